"""Campaign fan-out: the staged audience becomes paced outbox messages, lane by lane, batch
by batch.

The audience is split into lanes by address index (lanes.py), each its own job,
so that several database connections (and workers, on several machines) write messages side by
side. Each batch of a lane is one transaction: read the lane's next audience rows after its
checkpoint (keyset) with their consent verdicts (one join with the marketing state that
migration 0008 keeps), COPY the allowed ones into ``messages`` with their due times, and advance
the lane's checkpoint. A worker killed half-way resumes at the checkpoint; nothing is created
twice and memory stays one batch a lane whatever the audience size. The last lane to finish
turns the campaign to sending.

A recipient costs no encryption here: the message keeps the audience's sealed address (bound to
the campaign and the address index), its links are its id with an HMAC under the campaign's link
key (made when the email is rendered, checked when followed; nothing stored), and the portal
shows the campaign's one sealed content.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections import Counter

import asyncpg

from service.campaigns.lanes import campaign_position, lane_bounds
from service.campaigns.pacing import due_at
from service.core.config import Settings
from service.core.randomness import random_uuids
from service.db.queries import QUERIES

BATCH = 10000
_MESSAGE_COLUMNS = [
    "id", "purpose", "status", "subject", "recipient_sealed", "give_up_at", "expires_at",
    "recipient_index", "next_attempt_at", "campaign_id",
]


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
            rows = [] if campaign["done"] else await conn.fetch(
                QUERIES.audience_verdicts, campaign_id, campaign["after"], BATCH,
                campaign["below"],
            )
            if rows:
                created += await _batch(conn, settings, campaign, rows)
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


async def _batch(conn: asyncpg.Connection, settings: Settings, campaign: asyncpg.Record,
                 rows: list[asyncpg.Record]) -> int:
    campaign_id: uuid.UUID = campaign["id"]
    subject, rate = campaign["subject"], campaign["rate_per_second"]
    now = dt.datetime.now(dt.UTC)
    start = max(campaign["started_at"], campaign["scheduled_at"] or now)
    give_up = now + dt.timedelta(seconds=settings.retry_give_up_seconds)
    expires = now + dt.timedelta(seconds=settings.portal_ttl_seconds)
    lane, lanes, position = campaign["lane"], campaign["lanes"], campaign["position"]
    excluded: Counter[str] = Counter()
    records = []
    ids = random_uuids(len(rows))
    for row, message_id in zip(rows, ids, strict=True):
        if row["refusal"] is not None:
            excluded[row["refusal"]] += 1
            continue
        records.append((
            message_id, "marketing", "queued", subject, row["email_sealed"], give_up, expires,
            row["email_index"], due_at(start, campaign_position(lane, lanes, position), rate),
            campaign_id,
        ))
        position += 1
    if records:
        # No per-message "queued" event: messages.created_at says when, the campaign's audit
        # record says why, and a million event rows (each with its foreign-key check) were a
        # quarter of the fan-out's time. Every later status change is an event as usual.
        await conn.copy_records_to_table("messages", records=records, columns=_MESSAGE_COLUMNS)
    await conn.execute(
        QUERIES.advance_fanout_lane, campaign_id, lane, rows[-1]["email_index"], position,
        json.dumps(dict(excluded)),
    )
    return len(records)
