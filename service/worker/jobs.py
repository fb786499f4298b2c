"""The arq worker: delivery jobs, the outbox sweep and content expiry.

arq may run a job more than once; every job here is idempotent through the row's state
(``UPDATE ... WHERE status = ...``), and PostgreSQL, not Redis, holds the truth: the sweep
re-enqueues anything due, so a flushed Redis or a killed worker loses no accepted message.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from typing import Any

import asyncpg
from arq import Worker, cron
from arq.worker import func

from service import audit, consent, engagement
from service.campaigns import fan_out
from service.core import paths
from service.core.config import Settings
from service.core.crypto import campaign_token
from service.db.pool import create_db_pool
from service.db.queries import QUERIES
from service.db.queue import (
    DELIVER_DUE,
    FAN_OUT,
    enqueue_deliver_due,
    enqueue_fan_out,
    redis_settings,
)
from service.delivery.campaign_look import NO_CAMPAIGN, CampaignLook
from service.delivery.compose import Composer
from service.delivery.pipeline import SendPipeline
from service.delivery.relay_rate import RelayRate
from service.delivery.retry import ErrorClass, next_step
from service.delivery.smtp import DeliveryError, RelayConfig, SmtpPool

log = logging.getLogger(__name__)

# Long enough for any single SMTP exchange (each command times out sooner); a send that dies
# mid-way is picked up again by the sweep once the lease runs out.
LEASE_SECONDS = 300.0
# Enough rows to keep every pooled SMTP session busy between two claims.
CLAIM_BATCH = 256
# A delivery job hands over to a fresh one after this long, well inside arq's job timeout.
JOB_SECONDS = 60.0
PACING_WAIT_SECONDS = 1.0
# How long a stopping worker gives the batches it has claimed (well inside the deployments'
# termination grace periods).
SHUTDOWN_GRACE_SECONDS = 10.0
# A fan-out job beats (a batch) every few hundred milliseconds; this long without a beat, its
# job is gone and the sweep starts another from the checkpoint.
FANOUT_STALLED_SECONDS = 60.0

# A claimed batch: each row with its consent verdict, checked right before sending.
Claimed = list[tuple[asyncpg.Record, consent.Decision]]


def relay_config(settings: Settings) -> RelayConfig:
    return RelayConfig(
        host=settings.smtp_host, port=settings.smtp_port, tls=settings.smtp_tls,
        ca_file=settings.smtp_ca_file, username=settings.smtp_username,
        password=settings.smtp_password, timeout=settings.smtp_timeout,
        pool_size=settings.smtp_pool_size,
    )


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    ctx["db"] = await create_db_pool(settings, min_size=2, max_size=settings.smtp_pool_size + 4)
    ctx["smtp"] = SmtpPool(relay_config(settings))
    ctx["composer"] = Composer(settings.mail_from, settings.clinic_name)
    ctx["relay_rate"] = None
    ctx["claim_batch"] = CLAIM_BATCH
    if settings.smtp_max_rate:
        ctx["relay_rate"] = RelayRate(
            ctx["redis"], f"{settings.smtp_host}:{settings.smtp_port}", settings.smtp_max_rate
        )
        # A claimed batch waits its turn under the lease: keep it to a few seconds of sending.
        ctx["claim_batch"] = min(CLAIM_BATCH, settings.smtp_max_rate * 5)
    # Catch up at once on whatever was accepted while no worker ran.
    await sweep_outbox(ctx)


async def shutdown(ctx: dict[str, Any]) -> None:
    if "smtp" in ctx:
        await ctx["smtp"].close()
    if "db" in ctx:
        await ctx["db"].close()


async def deliver_due(ctx: dict[str, Any]) -> int:
    """Claims and sends due messages, batch after batch, until none are left; returns the count.

    Claiming, sending and recording overlap (delivery/pipeline.py). Several of these jobs may
    run at once, in one worker or many: they share the work through the claim's SKIP LOCKED, so
    each message is claimed by exactly one of them.
    """
    db: asyncpg.Pool = ctx["db"]
    deadline = time.monotonic() + JOB_SECONDS
    pipeline: SendPipeline[Claimed, list[uuid.UUID]] = SendPipeline(
        functools.partial(_send_batch, ctx), functools.partial(_record, db)
    )
    # A claim commits before its consent check returns: shielded, so that a shutdown in between
    # still gets the claimed rows and can send them rather than leave them leased.
    claiming: asyncio.Task[Claimed] | None = None
    try:
        while time.monotonic() < deadline:
            claiming = asyncio.create_task(_claim(ctx))
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
                return pipeline.recorded
            await asyncio.sleep(max(wait, 0.01))
        await pipeline.drain()
    except asyncio.CancelledError:
        # Shutdown (SIGTERM, a deploy): what is claimed goes out and is recorded first.
        await pipeline.finish(SHUTDOWN_GRACE_SECONDS, claiming)
        raise
    finally:
        pipeline.cancel()
    # Out of time with work left: hand over to a fresh job rather than hit arq's job timeout.
    settings: Settings = ctx["settings"]
    await enqueue_deliver_due(ctx["redis"], settings.queue_name, f"next:{uuid.uuid4()}")
    return pipeline.recorded


async def _claim(ctx: dict[str, Any]) -> Claimed:
    db: asyncpg.Pool = ctx["db"]
    rows = await db.fetch(QUERIES.claim_due_messages, ctx["claim_batch"], LEASE_SECONDS)
    if not rows:
        return []
    # Consent is checked again right before sending: it may have been revoked since.
    verdicts = await consent.decisions(
        db, [(row["recipient_index"], _consent_purpose(row)) for row in rows]
    )
    return list(zip(rows, verdicts, strict=True))


async def _send_batch(ctx: dict[str, Any], claimed: Claimed) -> list[uuid.UUID]:
    """Sends (or refuses) a claimed batch; returns the ids the relay took.

    One sender per SMTP session, each taking the next row when its last send is through, so
    each message is rendered just before it goes out. (A task per row rendered the whole batch
    at once, holding up every session's replies for the length of that burst.)"""
    db: asyncpg.Pool = ctx["db"]
    settings: Settings = ctx["settings"]
    rows = iter(claimed)
    delivered: list[uuid.UUID] = []

    async def sender() -> None:
        for row, verdict in rows:
            if await (_deliver(ctx, row) if verdict.allowed else _reject(db, row, verdict)):
                delivered.append(row["id"])

    await asyncio.gather(*(sender() for _ in range(settings.smtp_pool_size)))
    return delivered


async def _record(db: asyncpg.Pool, claimed: Claimed, delivered: list[uuid.UUID]) -> int:
    # Recorded once the batch is through: a worker dying in between re-sends those messages
    # after the lease (at-least-once), it never loses one.
    await db.execute(QUERIES.mark_sent, delivered)
    for campaign_id in {row["campaign_id"] for row, _ in claimed} - {None}:
        await db.execute(QUERIES.finish_campaign, campaign_id)
    return len(delivered)


async def fan_out_campaign(ctx: dict[str, Any], campaign_id: str, lane: int) -> int:
    settings: Settings = ctx["settings"]
    created, finished = await fan_out(
        ctx["db"], settings, uuid.UUID(campaign_id), lane, time.monotonic() + JOB_SECONDS
    )
    if not finished:
        # A million recipients outlast arq's job timeout: continue in a fresh job.
        await enqueue_fan_out(ctx["redis"], settings.queue_name, campaign_id, lane)
    await enqueue_deliver_due(ctx["redis"], settings.queue_name, f"fanned:{uuid.uuid4()}")
    return created


def _consent_purpose(row: asyncpg.Record) -> str:
    # The double opt-in email itself needs only what operations mail needs.
    return "operations" if row["kind"] == "confirmation" else str(row["purpose"])


async def _reject(db: asyncpg.Pool, row: asyncpg.Record, verdict: consent.Decision) -> bool:
    assert verdict.refusal is not None
    reason = f"consent:{verdict.refusal.value}"
    async with db.acquire() as conn, conn.transaction():
        await conn.execute(QUERIES.mark_rejected, row["id"], reason)
        await audit.record(
            conn, actor="worker", action="message.reject", object_type="message",
            object_id=str(row["id"]), outcome=verdict.refusal.value, detail=row["purpose"],
        )
    log.info("message %s rejected before sending: %s", row["id"], reason)
    return False


async def _deliver(ctx: dict[str, Any], row: asyncpg.Record) -> bool:
    """Sends one claimed message; True when the relay took it, else the failure is recorded."""
    settings: Settings = ctx["settings"]
    db: asyncpg.Pool = ctx["db"]
    mid: uuid.UUID = row["id"]
    aad = mid.bytes
    keyring = settings.keyring
    campaign_id: uuid.UUID | None = row["campaign_id"]
    look = await _campaign_look(ctx, campaign_id) if campaign_id else NO_CAMPAIGN
    unsubscribe = None
    if campaign_id is None:
        recipient = keyring.open(row["recipient_sealed"], aad + b"recipient").decode()
        token = keyring.open(row["token_sealed"], aad + b"token").decode()
        if row["unsubscribe_sealed"] is not None:
            unsubscribe = keyring.open(row["unsubscribe_sealed"], aad + b"unsubscribe").decode()
    elif look.link_key is None:
        await db.execute(QUERIES.mark_rejected, mid, "campaign_closed")
        return False
    else:
        recipient = keyring.open(
            row["recipient_sealed"], campaign_id.bytes + row["recipient_index"]
        ).decode()
        token = campaign_token(look.link_key, b"portal", mid.bytes)
        unsubscribe = campaign_token(look.link_key, b"unsubscribe", mid.bytes)
    headers = None
    if unsubscribe is not None:
        # RFC 8058 one-click: mail providers POST "List-Unsubscribe=One-Click" to this URL.
        url = paths.link(settings.public_base_url, paths.UNSUBSCRIBE, unsubscribe)
        headers = {
            "List-Unsubscribe": f"<{url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
    link_path = paths.CONFIRM if row["kind"] == "confirmation" else paths.PORTAL
    links, pixel = look.tracked_links(settings.public_base_url, keyring, campaign_id)
    envelope = ctx["composer"].render(
        recipient=recipient, subject=row["subject"], kind=row["kind"], teaser=look.teaser,
        link_url=paths.link(settings.public_base_url, link_path, token), extra_headers=headers,
        links=links, pixel_url=pixel,
    )
    if ctx["relay_rate"] is not None:
        await ctx["relay_rate"].wait_turn()
    try:
        await ctx["smtp"].send(envelope)
    except DeliveryError as exc:
        await _record_failure(db, row, exc)
        return False
    return True


async def _campaign_look(ctx: dict[str, Any], campaign_id: uuid.UUID) -> CampaignLook:
    # A campaign's email never changes once created: read it once per worker.
    cache: dict[uuid.UUID, CampaignLook] = ctx.setdefault("campaign_looks", {})
    if campaign_id not in cache:
        row = await ctx["db"].fetchrow(QUERIES.campaign_look, campaign_id)
        sealed_key = row["link_key_sealed"]
        link_key = None if sealed_key is None else ctx["settings"].keyring.open(
            sealed_key, campaign_id.bytes + b"link-key"
        )
        cache[campaign_id] = CampaignLook(
            row["teaser"], tuple(row["links"]), row["tracking"], link_key
        )
    return cache[campaign_id]


async def _record_failure(db: asyncpg.Pool, row: asyncpg.Record, exc: DeliveryError) -> None:
    mid = row["id"]
    step = next_step(exc.failure, row["attempts"], row["seconds_until_give_up"])
    error_class = exc.failure.error_class.value
    if step.retry:
        await db.execute(QUERIES.mark_retrying, mid, step.delay_seconds, error_class)
        log.info("message %s retrying in %.0fs: %s", mid, step.delay_seconds, error_class)
        return
    if exc.failure.error_class not in (ErrorClass.PERMANENT, ErrorClass.MAILBOX_UNKNOWN):
        error_class = f"{error_class}+{ErrorClass.GAVE_UP.value}"
    async with db.acquire() as conn, conn.transaction():
        await conn.execute(QUERIES.mark_failed, mid, error_class)
        if exc.failure.error_class is ErrorClass.MAILBOX_UNKNOWN:
            # A hard bounce (5.1.x): the address gets nothing more, for any purpose.
            added = await conn.fetchval(
                QUERIES.insert_suppression, row["recipient_index"], "hard_bounce",
                exc.failure.enhanced,
            )
            if added is not None:
                await audit.record(
                    conn, actor="relay", action="suppression.add", object_type="recipient",
                    object_id=row["recipient_index"].hex(), outcome="hard_bounce",
                    detail=exc.failure.enhanced,
                )
    log.info("message %s failed: %s", mid, error_class)


async def sweep_outbox(ctx: dict[str, Any]) -> bool:
    """Recovers what Redis or a dead worker lost: reclaims expired leases, and starts a delivery
    job whenever anything is due (retries come due this way too: none waits in Redis)."""
    db: asyncpg.Pool = ctx["db"]
    settings: Settings = ctx["settings"]
    await db.execute(QUERIES.reclaim_lost_sends)
    for row in await db.fetch(QUERIES.stalled_fanout_lanes, FANOUT_STALLED_SECONDS):
        await enqueue_fan_out(ctx["redis"], settings.queue_name, str(row["campaign_id"]),
                              row["lane"])
    due: bool = await db.fetchval(QUERIES.any_due)
    if due:
        await enqueue_deliver_due(ctx["redis"], settings.queue_name, f"sweep:{uuid.uuid4()}")
    return due


async def purge_expired(ctx: dict[str, Any]) -> str:
    await ctx["db"].execute(QUERIES.purge_admin_sessions)
    await ctx["db"].execute(QUERIES.purge_expired_campaign_content)
    return str(await ctx["db"].execute(QUERIES.purge_expired_content))


async def flush_engagement(ctx: dict[str, Any]) -> int:
    """Moves the open and click counters from Redis into PostgreSQL (every 5 s)."""
    return await engagement.flush(ctx["redis"], ctx["db"])


def build_worker(settings: Settings, *, burst: bool = False, **overrides: Any) -> Worker:
    options: dict[str, Any] = {
        "functions": [
            func(deliver_due, name=DELIVER_DUE, max_tries=3),
            func(fan_out_campaign, name=FAN_OUT, max_tries=5),
        ],
        "cron_jobs": [
            cron(sweep_outbox, second=set(range(0, 60, 5)), unique=True),
            cron(purge_expired, second={30}, unique=True),
            cron(flush_engagement, second=set(range(2, 60, 5)), unique=True),
        ],
        "redis_settings": redis_settings(settings),
        "queue_name": settings.queue_name,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "ctx": {"settings": settings},
        "burst": burst,
        # Concurrent batch jobs; the SMTP pool, not this, bounds concurrent sends.
        "max_jobs": settings.worker_concurrency,
        # arq's 0.5 s default poll adds up to half a second to every reminder.
        "poll_delay": 0.05,
        # Results are never read; keeping none also lets a job id be reused for the next attempt.
        "keep_result": 0,
        "job_timeout": LEASE_SECONDS,
        "log_results": False,
    }
    options.update(overrides)
    return Worker(**options)
