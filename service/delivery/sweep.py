"""The outbox sweep: recovers what Redis or a dead worker lost. Reclaims expired leases,
restarts stalled fan-out lanes, and starts a delivery job whenever anything is due (retries come
due this way too: none waits in Redis)."""

from __future__ import annotations

import uuid

import asyncpg
from arq.connections import ArqRedis

from service.db.queries import QUERIES
from service.db.queue import enqueue_deliver_due, enqueue_fan_out

# A fan-out job beats (a batch) every few hundred milliseconds; this long without a beat, its
# job is gone and the sweep starts another from the checkpoint.
FANOUT_STALLED_SECONDS = 60.0


async def sweep_outbox(db: asyncpg.Pool, redis: ArqRedis, queue: str) -> bool:
    await db.execute(QUERIES.reclaim_lost_sends)
    for row in await db.fetch(QUERIES.stalled_fanout_lanes, FANOUT_STALLED_SECONDS):
        await enqueue_fan_out(redis, queue, str(row["campaign_id"]), row["lane"])
    due: bool = await db.fetchval(QUERIES.any_due)
    if due:
        await enqueue_deliver_due(redis, queue, f"sweep:{uuid.uuid4()}")
    return due
