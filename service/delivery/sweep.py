"""The outbox sweep: recovers what Redis or a dead worker lost. Reclaims lapsed leases (counting
those that may already have reached the relay), writes the delivery audit records a dead worker
left pending, restarts stalled fan-out lanes, ends campaigns a dead worker left with nothing to
send, and starts a delivery job whenever anything is due (retries come due this way too: none
waits in Redis)."""

from __future__ import annotations

import logging
import uuid

import asyncpg
from arq.connections import ArqRedis

from service.db.queries import QUERIES
from service.db.queue import enqueue_deliver_due, enqueue_fan_out
from service.delivery.recorder import audit_deliveries

log = logging.getLogger(__name__)

# A fan-out job beats (a batch) every few hundred milliseconds; this long without a beat, its
# job is gone and the sweep starts another from the checkpoint.
FANOUT_STALLED_SECONDS = 15.0
# A session row untouched this long, whose message is not being sent, belonged to a dead worker.
DEAD_SESSION_SECONDS = 600.0


async def sweep_outbox(db: asyncpg.Pool, redis: ArqRedis, queue: str) -> bool:
    possible_duplicates = await db.fetchval(QUERIES.reclaim_lost_sends)
    await db.execute(QUERIES.forget_dead_wire_sessions, DEAD_SESSION_SECONDS)
    await audit_deliveries(db)  # what a lost worker delivered and had not audited yet
    if possible_duplicates:
        log.warning("%d messages were on the wire when their worker was lost: they go out "
                    "again, with the same Message-ID", possible_duplicates)
    for row in await db.fetch(QUERIES.stalled_fanout_lanes, FANOUT_STALLED_SECONDS):
        await enqueue_fan_out(redis, queue, str(row["campaign_id"]), row["lane"])
    await db.execute(QUERIES.finish_campaign, None)
    due: bool = await db.fetchval(QUERIES.any_due)
    if due:
        await enqueue_deliver_due(redis, queue, f"sweep:{uuid.uuid4()}")
    return due
