"""Campaign fan-out: the staged audience becomes paced outbox messages, lane by lane, batch
by batch.

The audience is split into lanes by address index (lanes.py), each its own job,
so that several database connections (and workers, on several machines) write messages side by
side. Each batch of a lane is one transaction: one statement reads the lane's next audience
rows after its checkpoint (keyset) with their consent verdicts (one join with the marketing
state that migration 0008 keeps) and inserts the allowed ones into ``messages`` with their due
times, then the lane's checkpoint advances. The rows never leave PostgreSQL, so the worker does
no work per recipient and its memory does not depend on the batch, let alone the audience. A
worker killed half-way resumes at the checkpoint; nothing is created twice. The last lane to
finish turns the campaign to sending.

A recipient costs no encryption here: the message keeps the audience's sealed address (bound to
the campaign and the address index), its links are its id with an HMAC under the campaign's link
key (made when the email is rendered, checked when followed; nothing stored), and the portal
shows the campaign's one sealed content.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

import asyncpg

from service.campaigns.lanes import lane_bounds
from service.campaigns.pacing import lane_pace
from service.core.config import Settings
from service.db.queries import QUERIES

BATCH = 10000


async def create_lanes(conn: asyncpg.Connection, campaign_id: uuid.UUID, lanes: int) -> None:
    after, below = zip(*lane_bounds(lanes), strict=True)
    await conn.execute(QUERIES.insert_fanout_lanes, campaign_id, list(after), list(below))


async def fan_out(
    db: asyncpg.Pool, settings: Settings, campaign_id: uuid.UUID, lane: int, deadline: float
) -> tuple[int, bool]:
    """Runs one lane of the fan-out until it is complete or ``deadline`` (monotonic) passes;
    returns the number of messages created by this call and whether the lane is over."""
    created = 0
    while time.monotonic() < deadline:
        async with db.acquire() as conn, conn.transaction():
            campaign = await conn.fetchrow(QUERIES.lane_for_fanout, campaign_id, lane)
            if campaign is None or campaign["status"] != "staging":
                return created, True
            made = None if campaign["done"] else await _batch(conn, settings, campaign)
            if made is not None:
                created += made
                continue
            await conn.execute(QUERIES.finish_fanout_lane, campaign_id, lane)
        # A transaction of its own, after this lane's "done" is committed: whichever lane takes
        # the campaign's lock last sees every other lane's.
        async with db.acquire() as conn, conn.transaction():
            await conn.execute(QUERIES.lock_campaign, campaign_id)
            await conn.execute(QUERIES.campaign_fanned_out, campaign_id)
            await conn.execute(QUERIES.finish_campaign, [campaign_id])
        return created, True
    return created, False


async def plan_batch_reads(conn: asyncpg.Connection) -> None:
    """For the rest of the transaction: a batch is read by walking the audience's index from
    the checkpoint. The planner does not know a new audience's size until statistics catch up
    with its upload; guessing it small, it prefers a bitmap scan of the whole rest of the lane,
    sorted to keep the first few thousand, for every batch (quadratic in the audience). Bitmap
    scans are priced out, not sorts: a plan costed with a disabled sort in it is also costed
    high enough to be JIT-compiled, a third of a second a batch."""
    await conn.execute("SET LOCAL enable_bitmapscan = off")


async def _batch(conn: asyncpg.Connection, settings: Settings,
                 campaign: asyncpg.Record) -> int | None:
    """The messages one batch of the lane created; None when the lane has nothing left."""
    campaign_id: uuid.UUID = campaign["id"]
    rate = campaign["rate_per_second"]
    now = dt.datetime.now(dt.UTC)
    start = max(campaign["started_at"], campaign["scheduled_at"] or now)
    lane, position = campaign["lane"], campaign["position"]
    first_due, step = lane_pace(start, lane, campaign["lanes"], position, rate)
    await plan_batch_reads(conn)
    last, created, excluded = await conn.fetchrow(
        QUERIES.fan_out_batch, campaign_id, campaign["after"], BATCH, campaign["below"],
        campaign["subject"], now + dt.timedelta(seconds=settings.retry_give_up_seconds),
        now + dt.timedelta(seconds=settings.portal_ttl_seconds), first_due, step,
    )
    if last is None:
        return None
    await conn.execute(QUERIES.advance_fanout_lane, campaign_id, lane, last, position + created,
                       excluded)
    return int(created)
