"""One run of retention, within a deadline: retire the finished campaigns the period has
passed (keep their figures), then walk the oldest end of ``messages`` deleting what may go, then
the retired campaigns' audiences. Which row may go is decided in SQL (``retention.sql``), where
the rows are; every batch is its own transaction with its audit record, so a run cut short
(deadline, outage, a killed worker) leaves nothing half done and the next run goes on.

The walk follows the primary key: version-7 ids sort by the millisecond they were made, so the
rows older than the cutoff are the keys below ``time_ordered_floor(cutoff)``. Rows made before
version-7 ids (migration 0029) are walked by age through their own small index.
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
_START = uuid.UUID(int=0)


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
    messages = await _walk_ids(db, cutoff, deadline) + await _walk_random_ids(db, cutoff, deadline)
    audience = 0
    while time.monotonic() < deadline and (n := await db.fetchval(QUERIES.retire_audience,
                                                                   BATCH * 5)):
        audience += n
    return Retired(messages, campaigns, audience, finished=time.monotonic() < deadline)


async def _retire_campaigns(db: asyncpg.Pool, cutoff: dt.datetime, deadline: float) -> int:
    retired = 0
    while time.monotonic() < deadline:
        ids = [r["id"] for r in await db.fetch(QUERIES.campaigns_to_retire, cutoff,
                                                _CAMPAIGNS_PER_STEP)]
        for campaign_id in ids:
            await _keep_figures(db, campaign_id)
        retired += len(ids)
        if len(ids) < _CAMPAIGNS_PER_STEP:
            break
    return retired


async def _keep_figures(db: asyncpg.Pool, campaign_id: uuid.UUID) -> None:
    """Copies the figures the campaign's pages and report show, read in one snapshot by the
    same queries that show them, so nothing changes on the page when the rows go."""
    async with db.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        by_status = {r["status"]: r["n"]
                     for r in await conn.fetch(QUERIES.campaign_progress, campaign_id)}
        counts = await conn.fetchrow(QUERIES.campaign_delivery_counts, campaign_id)
        audience = await conn.fetchval(QUERIES.audience_size, campaign_id)
        await conn.execute(QUERIES.keep_campaign_figures, campaign_id, audience,
                           json.dumps(by_status), counts["delivered"], counts["bounced"],
                           counts["complained"], counts["failed"])
        await audit.record(conn, actor="worker", action="campaign.retire",
                           object_type="campaign", object_id=str(campaign_id), outcome="retired",
                           detail=f"{sum(by_status.values())} messages, {audience} addresses")


async def _walk_ids(db: asyncpg.Pool, cutoff: dt.datetime, deadline: float) -> int:
    bound, after = time_ordered_floor(cutoff), _START

    async def step() -> list[asyncpg.Record]:
        nonlocal after
        rows: list[asyncpg.Record] = await db.fetch(QUERIES.retention_walk, after, bound, BATCH)
        if rows:
            after = rows[-1]["id"]
        return rows

    return await _walk(db, step, cutoff, deadline)


async def _walk_random_ids(db: asyncpg.Pool, cutoff: dt.datetime, deadline: float) -> int:
    after_at, after = dt.datetime.min.replace(tzinfo=dt.UTC), _START

    async def step() -> list[asyncpg.Record]:
        nonlocal after_at, after
        rows: list[asyncpg.Record] = await db.fetch(QUERIES.retention_walk_random_ids, after_at,
                                                    after, cutoff, BATCH)
        if rows:
            after_at, after = rows[-1]["created_at"], rows[-1]["id"]
        return rows

    return await _walk(db, step, cutoff, deadline)


async def _walk(db: asyncpg.Pool, step: Callable[[], Awaitable[list[asyncpg.Record]]],
                cutoff: dt.datetime, deadline: float) -> int:
    """Deletes, step by step until the walk ends or the deadline comes, what of each step's
    rows may go: one transaction a step, with its audit record."""
    deleted = 0
    while time.monotonic() < deadline and (rows := await step()):
        async with db.acquire() as conn, conn.transaction():
            n = await conn.fetchval(QUERIES.retire_messages, [r["id"] for r in rows], cutoff,
                                    list(FINAL), RETIRED)
            await _audit(conn, n, cutoff)
        deleted += n
    return deleted


async def _audit(conn: asyncpg.Connection, deleted: int, cutoff: dt.datetime) -> None:
    if deleted:
        await audit.record(conn, actor="worker", action="message.retire",
                           object_type="messages", object_id=f"before {cutoff.isoformat()}",
                           outcome="deleted", detail=f"{deleted} messages")
