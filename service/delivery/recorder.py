"""Recording the SMTP sessions' progress as it happens, a group commit at a time.

Each session reports two things between two messages: the message the relay just took (to be
marked sent, with its transport evidence and audit record) and the message it is about to put
on the wire (stamped, so a crash can be told apart from a row never sent). A session waits for
its report to commit before it sends, so at any instant a session has at most one message the
relay may have taken that PostgreSQL does not know about: after a crash, at most one re-send per
open SMTP session. Reports that arrive while a commit is under way share the next one.

A write that meets a database outage is retried (``db/outage.persist``), never dropped: the
rows stay leased meanwhile (``lease.py``), so nothing is sent twice across a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg

from service import audit
from service.db.outage import persist
from service.db.queries import QUERIES
from service.delivery.smtp import TransportEvidence


@dataclass(frozen=True, slots=True)
class Report:
    sent: tuple[uuid.UUID, TransportEvidence] | None
    on_wire: uuid.UUID | None


class Recorder:
    def __init__(self, db: asyncpg.Pool) -> None:
        self._db = db
        self._waiting: list[tuple[Report, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self.recorded = 0

    async def report(self, sent: tuple[uuid.UUID, TransportEvidence] | None,
                     on_wire: uuid.UUID | None) -> None:
        """Returns once the report is committed; raises if the database stayed out of reach
        longer than ``persist`` waits."""
        if sent is None and on_wire is None:
            return
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((Report(sent, on_wire), done))
        self._wake.set()
        # Shielded: a cancelled session still gets its report written.
        await asyncio.shield(done)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Recorder]:
        task = asyncio.create_task(self._run())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            for _, done in self._waiting:  # only when the run itself was torn down
                done.cancel()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            group, self._waiting = self._waiting, []
            reports = [report for report, _ in group]
            try:
                self.recorded += await persist(functools.partial(self._commit, reports),
                                               "recording deliveries")
            except Exception as exc:  # handed to every waiting session, which fails its job
                for _, done in group:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for _, done in group:
                if not done.done():
                    done.set_result(None)

    async def _commit(self, reports: list[Report]) -> int:
        sent = dict(r.sent for r in reports if r.sent is not None)
        on_wire = [r.on_wire for r in reports if r.on_wire is not None]
        async with self._db.acquire() as conn, conn.transaction():
            marked: list[uuid.UUID] = []
            if sent:
                marked = [row["id"] for row in await conn.fetch(
                    QUERIES.mark_sent, list(sent),
                    [e.tls_version for e in sent.values()], [e.cipher for e in sent.values()],
                    [e.certificate_sha256 for e in sent.values()],
                    [e.verified_name for e in sent.values()],
                )]
                # The sent mark, its transport evidence and the audit record of each delivery
                # commit together, so none exists without the others.
                await audit.record_many(conn, [
                    audit.Entry("worker", "message.deliver", "message", str(mid), "sent",
                                sent[mid].audit_detail())
                    for mid in marked
                ])
            if on_wire:
                await conn.execute(QUERIES.mark_on_wire, on_wire)
        return len(marked)
