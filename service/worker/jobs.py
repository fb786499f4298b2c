"""The arq worker: its typed context, start-up and shutdown, and its jobs, each a thin call
into the capability that owns it.

arq may run a job more than once; every job is idempotent through the rows' state
(``UPDATE ... WHERE status = ...``), and PostgreSQL, not Redis, holds the truth: the sweep
re-enqueues anything due, so a flushed Redis or a killed worker loses no accepted message.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
from arq import Retry, Worker, cron
from arq.connections import ArqRedis
from arq.worker import func

from service import engagement, retention, webhooks
from service.admin import lockout, sessions
from service.campaigns import fan_out
from service.core.config import Settings
from service.db.outage import RETRY_AFTER_SECONDS, is_outage
from service.db.pool import create_db_pool
from service.db.queries import QUERIES
from service.db.queue import (
    DELIVER_DUE,
    FAN_OUT,
    enqueue_deliver_due,
    enqueue_fan_out,
    redis_settings,
)
from service.delivery.deliver_due import Deliveries
from service.delivery.sender import Sender
from service.delivery.sweep import sweep_outbox

log = logging.getLogger(__name__)
T = TypeVar("T")

# A job hands over to a fresh one after this long, well inside arq's job timeout.
JOB_SECONDS = 60.0
JOB_TIMEOUT_SECONDS = 300.0
# The webhook cron's period less a margin, so its runs follow one another.
WEBHOOKS_JOB_SECONDS = 4.5
# Retention runs once a minute for at most this long: enough for 10 million messages a day
# (bench/retention.py), short enough to leave the connections to delivery.
RETENTION_JOB_SECONDS = 20.0


@dataclass(frozen=True, slots=True)
class WorkerContext:
    settings: Settings
    db: asyncpg.Pool
    redis: ArqRedis
    sender: Sender
    deliveries: Deliveries


def _context(ctx: dict[str, Any]) -> WorkerContext:
    context: WorkerContext = ctx["worker"]
    return context


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    db = await create_db_pool(settings, min_size=2, max_size=settings.smtp_pool_size + 4)
    ctx["worker"] = WorkerContext(settings, db, ctx["redis"],
                                  Sender.open(settings, db, ctx["redis"]), Deliveries())
    # Catch up at once on whatever was accepted while no worker ran.
    await sweep(ctx)


async def shutdown(ctx: dict[str, Any]) -> None:
    # Once only, whichever of arq's close() and worker/serve.py gets here first.
    worker: WorkerContext | None = ctx.pop("worker", None)
    if worker is not None:
        await worker.sender.close()
        await worker.db.close()


@contextlib.asynccontextmanager
async def _retried_on_outage() -> AsyncIterator[None]:
    """A job that meets a database outage is tried again shortly (arq's Retry), rather than
    failing for good: the outbox still holds its work."""
    try:
        yield
    except Exception as exc:
        if not is_outage(exc):
            raise
        raise Retry(defer=RETRY_AFTER_SECONDS) from exc


async def deliver(ctx: dict[str, Any]) -> int:
    w = _context(ctx)
    async with _retried_on_outage():
        sent, unfinished = await w.deliveries.run(w.sender, time.monotonic() + JOB_SECONDS)
    if unfinished:
        # Out of time with work left: hand over to a fresh job rather than hit arq's timeout.
        await enqueue_deliver_due(w.redis, w.settings.queue_name, f"next:{uuid.uuid4()}")
    return sent


async def fan_out_campaign(ctx: dict[str, Any], campaign_id: str, lane: int) -> int:
    w = _context(ctx)
    async with _retried_on_outage():
        created, finished = await fan_out(
            w.db, w.settings, uuid.UUID(campaign_id), lane, time.monotonic() + JOB_SECONDS
        )
    if not finished:
        # A million recipients outlast arq's job timeout: continue in a fresh job.
        await enqueue_fan_out(w.redis, w.settings.queue_name, campaign_id, lane)
    await enqueue_deliver_due(w.redis, w.settings.queue_name, f"fanned:{uuid.uuid4()}")
    return created


async def _unless_outage(job: str, work: Awaitable[T], otherwise: T) -> T:
    """A periodic job that meets a database outage is skipped with a warning: its next run is
    seconds away and loses nothing, so the outage is not worth a traceback."""
    try:
        return await work
    except Exception as exc:
        if not is_outage(exc):
            raise
        log.warning("%s skipped: database unreachable (%s)", job, type(exc).__name__)
        return otherwise


async def sweep(ctx: dict[str, Any]) -> bool:
    w = _context(ctx)
    return await _unless_outage("sweep", sweep_outbox(w.db, w.redis, w.settings.queue_name),
                                False)


async def purge(db: asyncpg.Pool) -> str:
    """Deletes what has expired: admin sessions and sign-in failures, campaign and message
    portal content."""
    await sessions.purge(db)
    await lockout.purge(db)
    await db.execute(QUERIES.purge_expired_campaign_content)
    await webhooks.purge(db)
    return str(await db.execute(QUERIES.purge_expired_content))


async def purge_expired(ctx: dict[str, Any]) -> str:
    return await purge(_context(ctx).db)


async def retire_old(ctx: dict[str, Any]) -> int:
    """Deletes the messages RETENTION_DAYS let go (service/retention), a batch at a time."""
    w = _context(ctx)
    # Every batch commits on its own; the next run, a minute away, goes on from there.
    done = await _unless_outage("retention", retention.retire(
        w.db, w.settings.retention_days, time.monotonic() + RETENTION_JOB_SECONDS), None)
    if done is None:
        return 0
    if done.messages or done.campaigns or done.audience or not done.finished:
        # Unfinished run after unfinished run: more falls due than the job deletes.
        log.log(logging.INFO if done.finished else logging.WARNING,
                "retention deleted %d messages and %d addresses, retired %d campaigns%s",
                done.messages, done.audience, done.campaigns,
                "" if done.finished else "; out of time, the next run goes on")
    return done.messages


async def deliver_webhooks(ctx: dict[str, Any]) -> int:
    """Sends the webhook events that are due, every 5 s; while endpoints exist the job stays
    until the next one starts, looking for new events twice a second. (A cron every second
    would keep arq's queue from ever being empty: a cron is queued a second ahead, and a
    ``--burst`` worker stops only on an empty queue.)"""
    w = _context(ctx)
    # Claimed deliveries are due again when their lease ends; nothing is lost.
    return await _unless_outage("webhooks", webhooks.deliver_due(
        w.db, w.settings, time.monotonic() + WEBHOOKS_JOB_SECONDS), 0)


async def flush_engagement(ctx: dict[str, Any]) -> int:
    """Moves the open and click counters from Redis into PostgreSQL (every 5 s)."""
    w = _context(ctx)
    return await engagement.flush(w.redis, w.db)


def build_worker(settings: Settings, *, burst: bool = False, **overrides: Any) -> Worker:
    options: dict[str, Any] = {
        "functions": [
            # Tries are for outages (Retry); the sweep starts a fresh job after the last one.
            func(deliver, name=DELIVER_DUE, max_tries=10),
            func(fan_out_campaign, name=FAN_OUT, max_tries=10),
        ],
        "cron_jobs": [
            cron(sweep, second=set(range(0, 60, 5)), unique=True),
            cron(purge_expired, second={30}, unique=True),
            cron(flush_engagement, second=set(range(2, 60, 5)), unique=True),
            cron(deliver_webhooks, second=set(range(1, 60, 5)), unique=True),
            cron(retire_old, second={40}, unique=True),
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
        "job_timeout": JOB_TIMEOUT_SECONDS,
        "log_results": False,
    }
    options.update(overrides)
    return Worker(**options)
