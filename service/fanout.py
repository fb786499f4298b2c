"""Campaign fan-out: the staged audience becomes paced outbox messages, batch by batch.

Each batch is one transaction: read the next audience rows after the checkpoint (keyset), decide
consent for all of them with one query, COPY the allowed ones into ``messages`` with their due
times, and advance the checkpoint. A worker killed half-way resumes at the checkpoint; nothing
is created twice and memory stays one batch whatever the audience size.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter

import asyncpg

from service import consent_store, outbox
from service.config import Settings
from service.policy.pacing import due_at
from service.queries import QUERIES

BATCH = 2000
_MESSAGE_COLUMNS = [
    "id", "api_key_id", "purpose", "status", "subject", "recipient_sealed", "token_sealed",
    "token_hash", "content_sealed", "give_up_at", "expires_at", "recipient_index", "kind",
    "unsubscribe_sealed", "unsubscribe_hash", "next_attempt_at", "campaign_id",
]


async def fan_out(db: asyncpg.Pool, settings: Settings, campaign_id: uuid.UUID) -> int:
    """Runs the fan-out to completion; returns the number of messages created by this call."""
    created = 0
    while True:
        async with db.acquire() as conn, conn.transaction():
            campaign = await conn.fetchrow(QUERIES.campaign_for_fanout, campaign_id)
            if campaign is None or campaign["status"] != "staging":
                return created
            rows = await conn.fetch(
                QUERIES.audience_batch, campaign_id, campaign["fanout_cursor"], BATCH
            )
            if not rows:
                await conn.execute(QUERIES.set_campaign_status, campaign_id, ["staging"],
                                   "sending")
                return created
            created += await _batch(conn, settings, campaign, rows)


async def _batch(conn: asyncpg.Connection, settings: Settings, campaign: asyncpg.Record,
                 rows: list[asyncpg.Record]) -> int:
    keyring = settings.keyring
    campaign_id: uuid.UUID = campaign["id"]
    verdicts = await consent_store.decisions(
        conn, [(row["email_index"], "marketing") for row in rows]
    )
    content = None
    if campaign["content_sealed"] is not None:
        content = keyring.open(campaign["content_sealed"], campaign_id.bytes + b"content").decode()
    now = dt.datetime.now(dt.UTC)
    start = max(campaign["started_at"], campaign["scheduled_at"] or now)
    give_up = now + dt.timedelta(seconds=settings.retry_give_up_seconds)
    expires = now + dt.timedelta(seconds=settings.portal_ttl_seconds)
    position = campaign["fanout_position"]
    excluded: Counter[str] = Counter()
    records = []
    for row, verdict in zip(rows, verdicts, strict=True):
        if not verdict.allowed:
            assert verdict.refusal is not None
            excluded[verdict.refusal.value] += 1
            continue
        recipient = keyring.open(row["email_sealed"], campaign_id.bytes + row["email_index"])
        sealed = outbox.seal(keyring, "marketing", recipient.decode(), content)
        records.append((
            sealed.id, campaign["api_key_id"], "marketing", "queued", campaign["subject"],
            sealed.recipient_sealed, sealed.token_sealed, sealed.token_hash,
            sealed.content_sealed, give_up, expires, sealed.recipient_index, "secure_message",
            sealed.unsubscribe_sealed, sealed.unsubscribe_hash,
            due_at(start, position, campaign["rate_per_second"]), campaign_id,
        ))
        position += 1
    if records:
        await conn.copy_records_to_table("messages", records=records, columns=_MESSAGE_COLUMNS)
        await conn.copy_records_to_table(
            "message_events", records=[(r[0], "queued") for r in records],
            columns=["message_id", "status"],
        )
    await conn.execute(
        QUERIES.advance_fanout, campaign_id, rows[-1]["email_index"], position,
        json.dumps(dict(excluded)),
    )
    return len(records)
