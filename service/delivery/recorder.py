"""Recording the SMTP sessions' progress as it happens, a group commit at a time.

Each session reports two things between two messages: the message the relay just took (to be
marked sent, with its transport evidence) and the message it is about to put on the wire
(``wire_sessions``, so that after a crash a re-send that may duplicate is told apart from a row
never sent). A session waits for its report to commit before it sends the next content, so at
any instant a session has at most one message the relay may have taken that PostgreSQL does not
know about: after a crash, at most one re-send per open SMTP session. Reports that arrive while
a commit is under way share the next one, and a commit is a single statement: one round trip
for every session's progress. Before it commits, the recorder lingers (``LINGER_SECONDS`` at
most) until every session that is working has reported: sessions report a few SMTP round trips
apart, so without it nearly every report took a commit of its own (1.8 commits a message, each
a round trip, a WAL flush and the database's CPU); with it, one commit carries a report of each
session. The wait overlaps MAIL, RCPT and DATA like the commit itself.

The audit record of each delivery is appended a batch at a time (``audit_deliveries``): the sent
mark queues the message (``delivery_audit_queue``), and the batch writes the records and empties
the queue in one transaction. A worker lost in between leaves the queue to the sweep, so a
delivery never goes unaudited, and the hash chain's lock is taken once a batch, not a message.

A write that meets a database outage is retried (``db/outage.persist``), never dropped: the
rows stay leased meanwhile (``lease.py``), so nothing is sent twice across a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg

from service import audit
from service.db.outage import is_outage, persist
from service.db.queries import QUERIES
from service.delivery.smtp import TransportEvidence

AUDIT_BATCH = 500
AUDIT_EVERY_SECONDS = 0.5
# How long a report waits for the other working sessions' before its commit goes: about the
# MAIL, RCPT and DATA round trips it overlaps, so a full group costs a message no time.
LINGER_SECONDS = 0.002


@dataclass(frozen=True, slots=True)
class Report:
    session: uuid.UUID
    sent: tuple[uuid.UUID, TransportEvidence] | None
    on_wire: uuid.UUID | None


class Recorder:
    def __init__(self, db: asyncpg.Pool, sessions: int = 1) -> None:
        """``sessions``: how many SMTP sessions report, so a group knows when it is full."""
        self._db = db
        self._waiting: list[tuple[Report, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._arrived = asyncio.Event()
        self._sessions: set[uuid.UUID] = set()
        self._working = sessions
        self.recorded = 0

    @contextlib.contextmanager
    def idle(self) -> Iterator[None]:
        """A session waiting for work reports nothing meanwhile: no group waits for it."""
        self._working -= 1
        self._arrived.set()
        try:
            yield
        finally:
            self._working += 1

    async def report(self, session: uuid.UUID, sent: tuple[uuid.UUID, TransportEvidence] | None,
                     on_wire: uuid.UUID | None) -> None:
        """Returns once the report is committed; raises if the database stayed out of reach
        longer than ``persist`` waits."""
        if sent is None and on_wire is None:
            return
        self._sessions.add(session)
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((Report(session, sent, on_wire), done))
        self._wake.set()
        self._arrived.set()
        # Shielded: a cancelled session still gets its report written.
        await asyncio.shield(done)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Recorder]:
        tasks = [asyncio.create_task(self._run()), asyncio.create_task(self._audit())]
        try:
            yield self
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for _, done in self._waiting:  # only when the run itself was torn down
                done.cancel()
            # What this run delivered is audited before it ends (the sweep would, later), and its
            # sessions are closed.
            try:
                await persist(functools.partial(audit_deliveries, self._db), "auditing", 5)
                await persist(functools.partial(self._db.execute, QUERIES.end_wire_sessions,
                                                list(self._sessions)), "ending sessions", 5)
            except Exception as exc:
                if not is_outage(exc):
                    raise

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await self._linger()
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

    async def _linger(self) -> None:
        """Returns once every working session has a report waiting, or ``LINGER_SECONDS``
        after the first one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LINGER_SECONDS
        while len(self._waiting) < self._working:
            self._arrived.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    async def _commit(self, reports: list[Report]) -> int:
        sent = dict(r.sent for r in reports if r.sent is not None)
        evidence = sent.values()
        marked: int = await self._db.fetchval(
            QUERIES.record_progress, list(sent), [e.tls_version for e in evidence],
            [e.cipher for e in evidence], [e.certificate_sha256 for e in evidence],
            [e.verified_name for e in evidence],
            [r.session for r in reports], [r.on_wire for r in reports],
        )
        return marked

    async def _audit(self) -> None:
        while True:
            await asyncio.sleep(AUDIT_EVERY_SECONDS)
            try:
                await audit_deliveries(self._db)
            except Exception as exc:
                # After an outage, the next round (or the sweep) writes them.
                if not is_outage(exc):
                    raise


async def audit_deliveries(db: asyncpg.Pool) -> int:
    """Writes the audit records of recorded deliveries that have none yet; returns how many."""
    written = 0
    while True:
        async with db.acquire() as conn, conn.transaction():
            rows = await conn.fetch(QUERIES.pending_delivery_audits, AUDIT_BATCH)
            if not rows:
                return written
            await audit.record_many(conn, [
                audit.Entry("worker", "message.deliver", "message", str(row["id"]), "sent",
                            TransportEvidence(row["tls_version"], row["tls_cipher"],
                                              row["tls_certificate_sha256"],
                                              row["tls_verified_name"]).audit_detail())
                for row in rows
            ])
            await conn.execute(QUERIES.clear_delivery_audits, [row["id"] for row in rows])
        written += len(rows)
        if len(rows) < AUDIT_BATCH:
            return written
