"""Queue jobs and how they are enqueued. Jobs carry no payload at all: PostgreSQL says what is due,
so Redis never sees PHI and losing Redis loses nothing.

Delivery runs as ``deliver_due`` jobs that claim due rows in batches. Rather than one job per
message, an API process *nudges*: it enqueues one job per 50 ms slot, deferred to the end of the
slot, and remembers the slot so later requests in it skip Redis entirely. A message committed
during a slot is therefore always followed by a job that starts after its commit.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any, cast

from arq.connections import ArqRedis, RedisSettings
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisError

from service.core.config import Settings
from service.core.redis_url import parse_redis_url

log = logging.getLogger(__name__)

# Redis out of reach (refused, reset, timed out): the callers carry on without the queue, since
# PostgreSQL holds the work and the worker's sweep finds it.
REDIS_UNREACHABLE: tuple[type[Exception], ...] = (OSError, RedisError)

DELIVER_DUE = "deliver_due"
FAN_OUT = "fan_out_campaign"
SLOT_SECONDS = 0.05


def redis_settings(settings: Settings) -> RedisSettings:
    return parse_redis_url(settings.redis_url)


def open_queue(settings: Settings) -> ArqRedis:
    """The API's Redis client, made the way arq's ``create_pool`` makes it but without its
    start-up ping: it connects on first use, so the API starts, and accepts into PostgreSQL,
    while Redis is down, and uses Redis again as soon as it is back."""
    config = redis_settings(settings)
    common: dict[str, Any] = {
        "db": config.database, "username": config.username, "password": config.password,
        "encoding": "utf8", "socket_connect_timeout": config.conn_timeout,
    }
    if config.sentinel:
        # Sentinel hands these to the primary's connections, where TLS options are allowed only
        # with TLS.
        tls = {"ssl": True, "ssl_ca_certs": config.ssl_ca_certs,
               "ssl_check_hostname": config.ssl_check_hostname} if config.ssl else {}
        sentinel = Sentinel(config.host, **tls, **common)  # type: ignore[no-untyped-call]
        redis = cast(ArqRedis, sentinel.master_for(config.sentinel_master, redis_class=ArqRedis))
    else:
        redis = ArqRedis(host=config.host, port=config.port, ssl=config.ssl,
                         ssl_ca_certs=config.ssl_ca_certs,
                         ssl_check_hostname=config.ssl_check_hostname, **common)
    redis.default_queue_name = settings.queue_name
    return redis


async def close_redis(redis: ArqRedis) -> None:
    """Close the pool, and with Sentinel the connections to the Sentinels too: arq's pool
    closes only those to the primary."""
    await redis.aclose()
    manager = getattr(redis.connection_pool, "sentinel_manager", None)
    for sentinel in getattr(manager, "sentinels", ()):
        await sentinel.aclose()


async def enqueue_deliver_due(redis: ArqRedis, queue: str, job_id: str,
                              defer_until: dt.datetime | None = None) -> None:
    await redis.enqueue_job(DELIVER_DUE, _job_id=job_id, _queue_name=queue,
                            _defer_until=defer_until)


class Nudger:
    """Coalesces "there is new work" signals from one process into one job per slot."""

    def __init__(self, redis: ArqRedis, queue: str) -> None:
        self._redis = redis
        self._queue = queue
        self._last_slot = -1

    async def nudge(self) -> None:
        slot = int(time.time() / SLOT_SECONDS)
        if slot == self._last_slot:
            return
        # Claimed before the await, so concurrent requests in this slot do not all enqueue.
        self._last_slot = slot
        run_at = dt.datetime.fromtimestamp((slot + 1) * SLOT_SECONDS, dt.UTC)
        try:
            # arq drops a second enqueue of the same job id, so racing processes are harmless.
            await enqueue_deliver_due(self._redis, self._queue, f"deliver-due:{slot}", run_at)
        except REDIS_UNREACHABLE as exc:
            # The rows are committed; the worker's sweep finds them when Redis is back.
            log.warning("enqueue failed (%s); the outbox sweep will deliver", type(exc).__name__)
            self._last_slot = -1


async def enqueue_fan_out(redis: ArqRedis, queue: str, campaign_id: str, lane: int) -> None:
    # Any number of these for one lane is harmless: fan-out locks and checkpoints the lane's row.
    await redis.enqueue_job(FAN_OUT, campaign_id, lane,
                            _job_id=f"fanout:{campaign_id}:{lane}:{time.time_ns()}",
                            _queue_name=queue)
