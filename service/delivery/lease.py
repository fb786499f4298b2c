"""The worker's hold on the rows it claimed: a short lease, renewed while it works.

A claim leases its rows for ``LEASE_SECONDS``; every ``RENEW_SECONDS`` the worker extends the
lease of every row it still holds (claimed and not yet recorded). A worker that dies stops
renewing, and the sweep hands its rows to another worker within seconds, not minutes. Renewal
rides out a database restart: it is retried at once when the database is back, well inside the
lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Iterable

import asyncpg

from service.db.outage import is_outage
from service.db.queries import QUERIES

log = logging.getLogger(__name__)

LEASE_SECONDS = 15.0
RENEW_SECONDS = 3.0
# After a failed renewal (the database unreachable), the next try comes this soon.
RENEW_RETRY_SECONDS = 0.25


class Lease:
    def __init__(self, db: asyncpg.Pool) -> None:
        self._db = db
        self._held: set[uuid.UUID] = set()

    def hold(self, ids: Iterable[uuid.UUID]) -> None:
        self._held.update(ids)

    def let_go(self, mid: uuid.UUID) -> None:
        self._held.discard(mid)

    @contextlib.asynccontextmanager
    async def renewing(self) -> AsyncIterator[Lease]:
        task = asyncio.create_task(self._renew())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            while self._held:
                try:
                    await self._db.execute(QUERIES.renew_leases, list(self._held), LEASE_SECONDS)
                    break
                except Exception as exc:
                    if not is_outage(exc):
                        raise
                    log.warning("lease renewal: database unreachable (%s); retrying",
                                type(exc).__name__)
                    await asyncio.sleep(RENEW_RETRY_SECONDS)
