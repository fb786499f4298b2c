"""Group commit of accepted messages: requests arriving together share one read of their
recipients (and their Idempotency-Keys' earlier messages), one INSERT, one commit and one
enqueue nudge (``core/batching.py`` decides when a batch goes).

A 202 still means the message is in PostgreSQL: each request is answered only after the commit
that holds its row returned. What a batch's failure does to its requests:

- a repeated idempotency key is no failure: that row alone is not written (``ON CONFLICT``, row
  by row), and its request answers as a replay, as it would alone;
- an outage (``db/outage.py``) fails every request of the batch, each with the error it would
  have had alone (a 503); nothing was committed, so nothing is half-accepted;
- any other error is the fault of some row, not of the batch: the rows are written again one
  by one, so only the request whose row fails sees the error.

One per API process (``AcceptBatches.of``), made on first use.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import asyncpg
from starlette.requests import Request

from service import consent
from service.core.batching import Batcher
from service.db.outage import is_outage
from service.db.resources import Resources
from service.messages.outbox import Row, insert_rows

# What acceptance reads about one request: its recipient's address index, its key's row id and
# its Idempotency-Key (None: none sent).
Lookup = tuple[bytes, uuid.UUID, str | None]


class AcceptBatches:
    def __init__(self, res: Resources) -> None:
        self._res = res
        wait, size = res.settings.accept_batch_max_wait_ms / 1000, res.settings.accept_batch_max
        self.reads: Batcher[Lookup, asyncpg.Record] = Batcher(self._read, wait, size)
        self.writes: Batcher[Row, uuid.UUID | None] = Batcher(self._write, wait, size)

    @staticmethod
    def of(request: Request) -> AcceptBatches:
        state = request.app.state
        batches: AcceptBatches | None = getattr(state, "accept_batches", None)
        if batches is None:
            batches = state.accept_batches = AcceptBatches(state.resources)
        return batches

    @staticmethod
    async def drain_of(state: object, seconds: float) -> bool:
        """Waits up to ``seconds`` for the process's batches in flight, if it ever made any;
        whether they all finished."""
        batches: AcceptBatches | None = getattr(state, "accept_batches", None)
        if batches is None:
            return True
        return all(await asyncio.gather(batches.reads.drain(seconds),
                                        batches.writes.drain(seconds)))

    async def read(self, lookup: Lookup) -> asyncpg.Record:
        """The request's ``recipient-states`` row (``consent.read_recipient_state``), with the
        key's earlier message under its Idempotency-Key (``idempotent_*``)."""
        return await self.reads.submit(lookup)

    async def insert(self, row: Row) -> uuid.UUID | None:
        """The new message's id once committed; None if its idempotency key was already used."""
        return await self.writes.submit(row)

    async def _read(self, lookups: list[Lookup]) -> list[asyncpg.Record]:
        return await consent.recipient_state_rows(self._res.db, lookups)

    async def _write(self, rows: list[Row]) -> Sequence[uuid.UUID | BaseException | None]:
        results: list[uuid.UUID | BaseException | None]
        try:
            results = list(await insert_rows(self._res.db, self._res.settings, rows))
        except asyncpg.PostgresError as exc:
            if len(rows) == 1 or is_outage(exc):
                raise
            results = [await self._write_alone(row) for row in rows]
        # No job deferred to a scheduled message's time: `worker --burst` would wait for it, up
        # to the horizon. The worker's sweep, every 5 s, starts a run once the message is due.
        if any(isinstance(result, uuid.UUID) and row.send_at is None
               for row, result in zip(rows, results, strict=True)):
            await self._res.nudger.nudge()
        return results

    async def _write_alone(self, row: Row) -> uuid.UUID | BaseException | None:
        try:
            return (await insert_rows(self._res.db, self._res.settings, [row]))[0]
        except asyncpg.PostgresError as exc:
            failure: BaseException = exc  # asyncpg's errors are untyped
            return failure
