"""The delivery job: claim due messages, send them, record them, batch after batch.

Claiming, sending and recording overlap (``pipeline.py``). Several of these jobs may run at once,
in one worker or many: they share the work through the claim's SKIP LOCKED, so each message is
claimed by exactly one of them. arq may run a job twice; a duplicate simply finds nothing due.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid

import asyncpg

from service import audit, consent
from service.db.queries import QUERIES
from service.delivery.pipeline import SendPipeline
from service.delivery.sender import Claimed, Delivered, Sender

# Long enough for any single SMTP exchange (each command times out sooner); a send that dies
# mid-way is picked up again by the sweep once the lease runs out.
LEASE_SECONDS = 300.0
# Enough rows to keep every pooled SMTP session busy between two claims.
CLAIM_BATCH = 256
PACING_WAIT_SECONDS = 1.0
# How long a stopping worker gives the batches it has claimed (well inside the deployments'
# termination grace periods).
SHUTDOWN_GRACE_SECONDS = 10.0


def claim_batch(max_rate: int) -> int:
    # A claimed batch waits its turn under the lease: keep it to a few seconds of sending.
    return min(CLAIM_BATCH, max_rate * 5) if max_rate else CLAIM_BATCH


async def deliver_due(sender: Sender, deadline: float) -> tuple[int, bool]:
    """Sends until nothing is due or ``deadline`` (monotonic) passes; returns the number sent
    and whether work was left when time ran out."""
    db = sender.db
    batch = claim_batch(sender.settings.smtp_max_rate)
    pipeline: SendPipeline[Claimed, Delivered] = SendPipeline(
        sender.send_batch, functools.partial(_record, db)
    )
    # A claim commits before its consent check returns: shielded, so that a shutdown in between
    # still gets the claimed rows and can send them rather than leave them leased.
    claiming: asyncio.Task[Claimed] | None = None
    try:
        while time.monotonic() < deadline:
            claiming = asyncio.create_task(_claim(db, batch))
            claimed = await asyncio.shield(claiming)
            claiming = None
            if claimed:
                await pipeline.advance(claimed)
                continue
            await pipeline.drain()
            # Paced campaigns make rows due a few at a time: wait for the next one if it is
            # close, rather than leave it to the next sweep.
            wait = await db.fetchval(QUERIES.next_due_in)
            if wait is None or wait > PACING_WAIT_SECONDS:
                return pipeline.recorded, False
            await asyncio.sleep(max(wait, 0.01))
        await pipeline.drain()
    except asyncio.CancelledError:
        # Shutdown (SIGTERM, a deploy): what is claimed goes out and is recorded first.
        await pipeline.finish(SHUTDOWN_GRACE_SECONDS, claiming)
        raise
    finally:
        pipeline.cancel()
    return pipeline.recorded, True


async def _claim(db: asyncpg.Pool, batch: int) -> Claimed:
    rows = await db.fetch(QUERIES.claim_due_messages, batch, LEASE_SECONDS)
    if not rows:
        return []
    # Consent is checked again right before sending: it may have been revoked since.
    verdicts = await consent.decisions(
        db, [(row["recipient_index"], _consent_purpose(row)) for row in rows]
    )
    return list(zip(rows, verdicts, strict=True))


def _consent_purpose(row: asyncpg.Record) -> str:
    # The double opt-in email itself needs only what operations mail needs.
    return "operations" if row["kind"] == "confirmation" else str(row["purpose"])


async def _record(db: asyncpg.Pool, claimed: Claimed, delivered: Delivered) -> int:
    # Recorded once the batch is through: a worker dying in between re-sends those messages
    # after the lease (at-least-once), it never loses one. The sent mark, its transport evidence
    # and the audit record of each delivery commit together, so none exists without the others.
    evidence = dict(delivered)
    async with db.acquire() as conn, conn.transaction():
        marked: list[uuid.UUID] = [r["id"] for r in await conn.fetch(
            QUERIES.mark_sent, list(evidence),
            [e.tls_version for e in evidence.values()], [e.cipher for e in evidence.values()],
            [e.certificate_sha256 for e in evidence.values()],
            [e.verified_name for e in evidence.values()],
        )]
        for mid in marked:
            await audit.record(
                conn, actor="worker", action="message.deliver", object_type="message",
                object_id=str(mid), outcome="sent", detail=evidence[mid].audit_detail(),
            )
    for campaign_id in {row["campaign_id"] for row, _ in claimed} - {None}:
        await db.execute(QUERIES.finish_campaign, campaign_id)
    return len(delivered)
