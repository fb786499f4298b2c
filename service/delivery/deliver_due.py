"""The delivery job: claim due messages and send them, each SMTP session recording its own
message as soon as the relay takes it.

A run feeds claimed rows to one task per pooled SMTP session and claims the next batch while
they work. Between two messages a session reports to the recorder (``recorder.py``) what the
relay took and what it sends next, and waits for that to commit before the next content goes,
so a crash re-sends at most the messages that were on open SMTP sessions at that instant. The
rows a run holds are leased and the lease renewed (``lease.py``); a stopping worker sends what is
on the wire and gives back the rest.

Several processes share the work through the claim's SKIP LOCKED. Within one process, one run at
a time (``Deliveries``): that is what keeps its messages on the wire within its SMTP sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid

import asyncpg

from service import consent
from service.db.outage import persist
from service.db.queries import QUERIES
from service.delivery.lease import LEASE_SECONDS, Lease
from service.delivery.recorder import Recorder
from service.delivery.sender import Claimed, Sender
from service.delivery.smtp import TransportEvidence

log = logging.getLogger(__name__)

# Enough rows to keep every pooled SMTP session busy between two claims.
CLAIM_BATCH = 256
PACING_WAIT_SECONDS = 1.0
# How long a stopping worker gives the messages on the wire (well inside the deployments'
# termination grace periods).
SHUTDOWN_GRACE_SECONDS = 10.0

Item = tuple[asyncpg.Record, consent.Decision]


def claim_batch(max_rate: int) -> int:
    # A claimed batch waits its turn in the feed: keep it to a few seconds of sending.
    return min(CLAIM_BATCH, max_rate * 5) if max_rate else CLAIM_BATCH


class Deliveries:
    """One delivery run at a time in a process. A delivery job that arrives while a run is
    under way only asks it to look again before it ends, and returns."""

    def __init__(self) -> None:
        self.running = False
        self.wanted = False

    async def run(self, sender: Sender, deadline: float) -> tuple[int, bool]:
        """Returns the number sent and whether work was left when ``deadline`` passed."""
        if self.running:
            self.wanted = True
            return 0, False
        self.running = True
        total = 0
        try:
            while True:
                self.wanted = False
                sent, unfinished = await deliver_due(sender, deadline)
                total += sent
                # No await between this check and `running = False`: a job that sets `wanted`
                # is either seen here or finds no run and starts its own.
                if unfinished or not self.wanted:
                    return total, unfinished
        finally:
            self.running = False


async def deliver_due(sender: Sender, deadline: float) -> tuple[int, bool]:
    """Sends until nothing is due or ``deadline`` (monotonic) passes; returns the number sent
    and whether work was left when time ran out."""
    recorder = Recorder(sender.db, sender.settings.smtp_pool_size)
    async with Lease(sender.db).renewing() as lease, recorder.running():
        return await _Run(sender, lease, recorder).until(deadline)


class _Run:
    def __init__(self, sender: Sender, lease: Lease, recorder: Recorder) -> None:
        self.sender = sender
        self.lease = lease
        self.recorder = recorder
        self.sessions: list[asyncio.Task[None]] = []
        self.feed: asyncio.Queue[Item | None] = asyncio.Queue()
        # Set by a session that leaves the feed short: time to claim more. Half a batch ahead,
        # so the sessions never wait for a claim.
        self.hungry = asyncio.Event()
        self.low_water = max(sender.settings.smtp_pool_size,
                             claim_batch(sender.settings.smtp_max_rate) // 2)
        self.claiming: asyncio.Task[Claimed] | None = None
        self.campaigns: set[uuid.UUID] = set()

    async def until(self, deadline: float) -> tuple[int, bool]:
        self.sessions = [asyncio.create_task(self._session())
                         for _ in range(self.sender.settings.smtp_pool_size)]
        try:
            unfinished = await self._claim_until(deadline)
            self._close_feed()
            await asyncio.wait(self.sessions, return_when=asyncio.FIRST_EXCEPTION)
            failed = [error for session in self.sessions
                      if session.done() and not session.cancelled()
                      and (error := session.exception()) is not None]
            if failed:
                # The others finish the message they have on the wire and record it, rather
                # than be cut off mid-send and send it again after their lease.
                await self._stop()
                raise failed[0]
        except asyncio.CancelledError:
            await self._stop()
            raise
        finally:
            for session in self.sessions:
                session.cancel()
            await asyncio.gather(*self.sessions, return_exceptions=True)
        if self.campaigns:
            await persist(functools.partial(self.sender.db.execute, QUERIES.finish_campaign,
                                            list(self.campaigns)), "ending campaigns")
        return self.recorder.recorded, unfinished

    async def _claim_until(self, deadline: float) -> bool:
        db = self.sender.db
        while time.monotonic() < deadline:
            if any(session.done() for session in self.sessions):
                return False  # one failed: until() raises its error
            if self.feed.qsize() > self.low_water:
                self.hungry.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.hungry.wait(), PACING_WAIT_SECONDS)
                continue
            # Shielded: a claim commits before its consent check returns, so a shutdown in
            # between still gets the rows, to give them back.
            self.claiming = asyncio.create_task(self._claim())
            claimed = await asyncio.shield(self.claiming)
            self.claiming = None
            if claimed:
                self.lease.hold(row["id"] for row, _ in claimed)
                self.campaigns.update(row["campaign_id"] for row, _ in claimed
                                      if row["campaign_id"] is not None)
                for item in claimed:
                    self.feed.put_nowait(item)
                continue
            # Paced campaigns make rows due a few at a time: wait for the next one if it is
            # close, rather than leave it to the next sweep.
            wait = await persist(lambda: db.fetchval(QUERIES.next_due_in), "reading the outbox")
            if wait is None or wait > PACING_WAIT_SECONDS:
                return False
            await asyncio.sleep(max(wait, 0.01))
        return True

    async def _claim(self) -> Claimed:
        db = self.sender.db
        batch = claim_batch(self.sender.settings.smtp_max_rate)
        rows = await persist(lambda: db.fetch(QUERIES.claim_due_messages, batch, LEASE_SECONDS),
                             "claiming")
        if not rows:
            return []
        # Consent is checked again right before sending: it may have been revoked since.
        wanted = [(row["recipient_index"], _consent_purpose(row)) for row in rows]
        verdicts = await persist(lambda: consent.decisions(db, wanted), "checking consent")
        refused = await persist(lambda: self.sender.subjects.refusals(db, rows),
                                "checking subjects")
        for row in rows:
            if row["id"] in refused:
                reason = f"subject:{refused[row['id']]}"
                await self.sender.refuse(row, reason, reason)
        return [(row, verdict) for row, verdict in zip(rows, verdicts, strict=True)
                if row["id"] not in refused]

    async def _session(self) -> None:
        """One SMTP session's loop. ``taken``: the message the relay took that is not yet
        recorded; it is reported with the next message put on the wire, or alone when there is
        no next one yet."""
        sender, recorder, lease = self.sender, self.recorder, self.lease
        me = uuid.uuid4()  # this session's row in wire_sessions
        taken: tuple[uuid.UUID, TransportEvidence] | None = None
        while True:
            if taken is not None and self.feed.empty():
                await self._record_alone(me, taken)
                taken = None
            if self.feed.empty():
                with recorder.idle():
                    item = await self.feed.get()
            else:
                item = self.feed.get_nowait()
            if self.feed.qsize() <= self.low_water:
                self.hungry.set()
            if item is None:
                await self._record_alone(me, taken)
                return
            row, verdict = item
            mid: uuid.UUID = row["id"]
            if not verdict.allowed:
                await sender.reject(row, verdict)
                lease.let_go(mid)
                continue
            envelope = await sender.compose(row)
            if envelope is None:
                lease.let_go(mid)
                continue
            # Committed before this message's content goes, overlapped with MAIL, RCPT and DATA.
            reported = asyncio.ensure_future(recorder.report(me, taken, mid))
            try:
                evidence = await sender.transmit(row, envelope, reported)
            finally:
                await reported  # also when the send failed before DATA
            if taken is not None:
                lease.let_go(taken[0])
            taken = None
            if evidence is None:
                lease.let_go(mid)  # the failure is recorded
            else:
                taken = (mid, evidence)

    async def _record_alone(self, session: uuid.UUID,
                            taken: tuple[uuid.UUID, TransportEvidence] | None) -> None:
        if taken is not None:
            await self.recorder.report(session, taken, None)
            self.lease.let_go(taken[0])

    def _close_feed(self) -> None:
        for _ in self.sessions:
            self.feed.put_nowait(None)

    async def _stop(self) -> None:
        """Shutdown (SIGTERM, a deploy), or a session that failed: what is on the wire goes out
        and is recorded; what was claimed and not started is given back at once."""
        waiting: list[uuid.UUID] = []
        while not self.feed.empty():
            item = self.feed.get_nowait()
            if item is not None:
                waiting.append(item[0]["id"])
        if self.claiming is not None:
            with contextlib.suppress(Exception):
                waiting += [row["id"] for row, _ in await self.claiming]
        self._close_feed()
        sessions = asyncio.gather(*self.sessions, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(sessions), SHUTDOWN_GRACE_SECONDS)
        if waiting:
            db = self.sender.db
            try:
                await asyncio.wait_for(db.execute(QUERIES.release_claims, waiting), 2)
            except Exception as exc:  # their leases bring them back all the same
                log.warning("could not give back %d claimed messages (%s)", len(waiting),
                            type(exc).__name__)


def _consent_purpose(row: asyncpg.Record) -> str:
    # The double opt-in email itself needs only what operations mail needs.
    return "operations" if row["kind"] == "confirmation" else str(row["purpose"])
