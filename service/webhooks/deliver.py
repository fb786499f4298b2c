"""Delivering the webhook outbox: claim what is due, sign it, POST it, record the attempt.

At least once: a request whose outcome was not recorded (a worker lost mid-request) is made
again after the claim's lease, under the same ``webhook-id``, which receivers deduplicate on.
What an endpoint answers changes only its own delivery record and failure clock: its status
decides delivered or retry, and nothing it sends back is read or stored.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time

import asyncpg
import httpx

from service import audit
from service.core.config import Settings
from service.db.queries import QUERIES
from service.webhooks.endpoints import signing_secrets
from service.webhooks.policy import after_attempt
from service.webhooks.signing import headers
from service.webhooks.transport import RESOLVE_SECONDS, TIMEOUT_SECONDS, new_client, post

log = logging.getLogger(__name__)

# Requests in flight at once per job: a slow endpoint delays a batch by its timeout at most.
BATCH = 20
# Past resolution plus the request's timeout, so a claim outlives the request it covers.
LEASE_SECONDS = 4 * (RESOLVE_SECONDS + TIMEOUT_SECONDS)
# Finished deliveries, their attempts and events are kept this long, then purged.
HISTORY_DAYS = 30
# While any endpoint is enabled, a running job looks for new events this often.
POLL_SECONDS = 0.5


def body(event_type: str, created_at: dt.datetime, data: str) -> bytes:
    """The request body: the Standard Webhooks envelope around the event's PHI-free data."""
    timestamp = created_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps({"type": event_type, "timestamp": timestamp, "data": json.loads(data)},
                      separators=(",", ":")).encode()


async def deliver_due(db: asyncpg.Pool, settings: Settings, deadline: float) -> int:
    """Sends what is due, and while any endpoint is enabled keeps looking for more until
    ``deadline`` (monotonic); returns how many were delivered. With no endpoint enabled it
    returns at once, so a worker draining its queue (``--burst``) is not held up."""
    delivered = 0
    # Opened with the first claim: building its TLS context costs the worker milliseconds
    # of CPU, which a run every five seconds with nothing to send should not pay.
    client: httpx.AsyncClient | None = None
    try:
        while time.monotonic() < deadline:
            rows = await db.fetch(QUERIES.claim_webhook_deliveries, BATCH, LEASE_SECONDS)
            if rows:
                client = client or new_client()
                done = await asyncio.gather(*(_attempt(db, settings, client, row)
                                              for row in rows))
                delivered += sum(done)
                continue
            if (time.monotonic() + POLL_SECONDS >= deadline
                    or not await db.fetchval(QUERIES.any_webhook_enabled)):
                break
            await asyncio.sleep(POLL_SECONDS)
    finally:
        if client is not None:
            await client.aclose()
    return delivered


async def _attempt(db: asyncpg.Pool, settings: Settings, client: httpx.AsyncClient,
                   row: asyncpg.Record) -> bool:
    webhook_id = str(row["event_id"])
    content = body(row["type"], row["created_at"], row["data"])
    signed = headers(signing_secrets(settings.keyring, row), webhook_id, int(time.time()),
                     content)
    answer = await post(client, httpx.URL(row["url"]), content, signed,
                        settings.webhook_allow_private)
    step = after_attempt(row["attempts"], answer.http_status, settings.webhook_retry_seconds)
    async with db.acquire() as conn, conn.transaction():
        disabled = await conn.fetchval(
            QUERIES.record_webhook_attempt, row["endpoint_id"], row["event_id"],
            answer.http_status, answer.error_class, step.status, step.delay,
            settings.webhook_disable_after_seconds, answer.duration_ms,
        )
        if disabled:
            await audit.record(conn, actor="worker", action="webhook.disable",
                               object_type="webhook", object_id=str(row["endpoint_id"]),
                               outcome="disabled", detail="every attempt failing")
    if disabled:
        log.warning("webhook endpoint %s disabled: every attempt failed for %.0f s",
                    row["endpoint_id"], settings.webhook_disable_after_seconds)
    return step.status == "delivered"


async def purge(db: asyncpg.Pool) -> None:
    await db.execute(QUERIES.purge_webhook_history, HISTORY_DAYS)
