"""One run of retention, within a deadline: retire the finished campaigns the period has
passed (keep their figures) and delete their sealed audiences, then walk the oldest end of
``messages`` deleting what may go. Which row may go is decided in SQL (``retention.sql``), where
the rows are; every batch is its own transaction, with its audit record and the walk's
position, so a run cut short (deadline, outage, a killed worker) leaves nothing half done and
the next run goes on from there.

The walk follows the primary key: version-7 ids sort by the millisecond they were made, so the
rows older than the cutoff are the keys below ``time_ordered_floor(cutoff)``. Rows made before
version-7 ids (migration 0029) are walked by age through their own small index. A walk that
reaches its end starts again from the bottom in the next run, so a row stepped over (a paused
campaign's, a link still open) is looked at again once a pass, and the rows behind it are not
held up.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from service import audit
from service.core.message_status import FINAL, RETIRED
from service.core.randomness import time_ordered_floor
from service.db.queries import QUERIES

# Rows looked at per statement: each batch holds its row locks for a few milliseconds only.
BATCH = 2000
_CAMPAIGNS_PER_STEP = 10
_BOTTOM = uuid.UUID(int=0)
_BOTTOM_AT = dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Retired:
    messages: int = 0
    campaigns: int = 0
    audience: int = 0
    finished: bool = True  # False: the deadline came first, the next run goes on


async def retire(db: asyncpg.Pool, days: int, deadline: float) -> Retired:
    """Deletes what ``days`` of retention let go, until done or ``deadline`` (monotonic)."""
    if days <= 0:
        return Retired()
    cutoff: dt.datetime = await db.fetchval(QUERIES.retention_cutoff, days)
    campaigns = await _retire_campaigns(db, cutoff, deadline)
    audience = 0
    while time.monotonic() < deadline and (n := await db.fetchval(QUERIES.retire_audience,
                                                                   BATCH * 5)):
        audience += n
    bound = time_ordered_floor(cutoff)
    messages = await _walk(db, "ids", cutoff, deadline, lambda _, after: db.fetch(
        QUERIES.retention_walk, after, bound, BATCH))
    messages += await _walk(db, "random-ids", cutoff, deadline, lambda after_at, after: db.fetch(
        QUERIES.retention_walk_random_ids, after_at, after, cutoff, BATCH))
    return Retired(messages, campaigns, audience, finished=time.monotonic() < deadline)


async def _retire_campaigns(db: asyncpg.Pool, cutoff: dt.datetime, deadline: float) -> int:
    retired = 0
    while time.monotonic() < deadline:
        ids = [r["id"] for r in await db.fetch(QUERIES.campaigns_to_retire, cutoff,
                                                _CAMPAIGNS_PER_STEP)]
        for campaign_id in ids:
            retired += await _keep_figures(db, campaign_id)
        if len(ids) < _CAMPAIGNS_PER_STEP:
            break
    return retired


async def _keep_figures(db: asyncpg.Pool, campaign_id: uuid.UUID) -> bool:
    """Copies the figures the campaign's pages and report show, read in one snapshot by the
    same queries that show them, so nothing changes on the page when the rows go. False if
    another run kept them first."""
    async with db.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        by_status = {r["status"]: r["n"]
                     for r in await conn.fetch(QUERIES.campaign_progress, campaign_id)}
        counts = await conn.fetchrow(QUERIES.campaign_delivery_counts, campaign_id)
        audience = await conn.fetchval(QUERIES.audience_size, campaign_id)
        kept = await conn.fetchval(QUERIES.keep_campaign_figures, campaign_id, audience,
                                   json.dumps(by_status), counts["delivered"], counts["bounced"],
                                   counts["complained"], counts["failed"])
        if kept is None:
            return False
        await audit.record(conn, actor="worker", action="campaign.retire",
                           object_type="campaign", object_id=str(campaign_id), outcome="retired",
                           detail=f"{sum(by_status.values())} messages, {audience} addresses")
    return True


Step = Callable[[dt.datetime, uuid.UUID], Awaitable[list[asyncpg.Record]]]


async def _walk(db: asyncpg.Pool, name: str, cutoff: dt.datetime, deadline: float,
                step: Step) -> int:
    """Deletes, step by step from where the walk ``name`` stopped, what of each step's rows may
    go, until the walk's end (then the next run starts again from the bottom) or the
    deadline."""
    kept = await db.fetchrow(QUERIES.retention_walk_position, name)
    after_at, after = (kept["after_at"], kept["after"]) if kept else (_BOTTOM_AT, _BOTTOM)
    deleted = 0
    while time.monotonic() < deadline:
        rows = await step(after_at, after)
        if not rows:
            await db.execute(QUERIES.keep_retention_walk_position, name, _BOTTOM_AT, _BOTTOM)
            break
        after_at, after = rows[-1].get("created_at", _BOTTOM_AT), rows[-1]["id"]
        async with db.acquire() as conn, conn.transaction():
            n = await conn.fetchval(QUERIES.retire_messages, [r["id"] for r in rows], cutoff,
                                    list(FINAL), RETIRED)
            await conn.execute(QUERIES.keep_retention_walk_position, name, after_at, after)
            if n:
                await audit.record(conn, actor="worker", action="message.retire",
                                   object_type="messages",
                                   object_id=f"before {cutoff.isoformat()}", outcome="deleted",
                                   detail=f"{n} messages")
        deleted += n
    return deleted
