"""Per-key request limits on the /v1 API, shared by every API replica through Redis.

GCRA (the token bucket as one timestamp): a key's state is its *theoretical arrival time*, when
its bucket would be full again. ``gcra`` is the arithmetic, pure; ``GCRA_LUA`` is the same in Lua,
run by Redis as one atomic step on Redis's own clock, so replicas whose clocks drift still agree.
Times are whole microseconds, exact in Lua's doubles and in Python alike. The Redis key is
``hipaa-mail:rate-limit:<the API key's row id>``: no secret, nothing about a patient, and it
expires when the bucket is full again, so an idle key leaves nothing behind.

A reminder must never be refused because the limiter's store is away: if Redis does not answer
within ``TIMEOUT_SECONDS`` the request goes on unlimited (the limiter is *open*), and Redis is
not asked again for ``PROBE_SECONDS``, so an outage costs one timeout per probe rather than one
per request, and one warning rather than a line per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError
from starlette.requests import Request

from service.core.batching import Batcher
from service.core.config import RateLimit, Settings
from service.core.logs import fields
from service.core.problems import Problem
from service.db.queue import REDIS_UNREACHABLE

if TYPE_CHECKING:
    from service.access.keys import ApiKey

log = logging.getLogger(__name__)

# Only the API: ``/metrics`` takes an admin key too, and a scraper must keep seeing an incident
# in which that key is over its limit.
_LIMITED_PREFIX = "/v1/"
# Redis answers in well under a millisecond; this leaves room for a busy event loop.
TIMEOUT_SECONDS = 0.1
PROBE_SECONDS = 5.0
KEY_PREFIX = "hipaa-mail:rate-limit:"
_MICROS = 1_000_000

# KEYS: the API key's state. ARGV: interval and now in microseconds (now absent: Redis's clock),
# burst. Returns the microseconds to wait, 0 when the request may go (and is counted).
GCRA_LUA = """
local now
if ARGV[3] then
  now = tonumber(ARGV[3])
else
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
end
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next_tat = tat + interval
local allow_at = next_tat - interval * tonumber(ARGV[2])
if now < allow_at then return allow_at - now end
redis.call('SET', KEYS[1], string.format('%d', next_tat),
           'PX', math.ceil((next_tat - now) / 1000))
return 0
"""


@dataclass(frozen=True, slots=True)
class Decision:
    wait_us: int  # 0: allowed
    tat_us: int | None  # the state to keep


def interval_us(limit: RateLimit) -> int:
    """Microseconds between requests at the sustained rate, rounded up so it is never exceeded."""
    return -(-limit.per_seconds * _MICROS // limit.count)


def gcra(now_us: int, tat_us: int | None, interval: int, burst: int) -> Decision:
    tat = now_us if tat_us is None else max(tat_us, now_us)
    next_tat = tat + interval
    allow_at = next_tat - interval * burst
    if now_us < allow_at:
        return Decision(allow_at - now_us, tat_us)
    return Decision(0, next_tat)


def is_limited(request: Request) -> bool:
    """Judged by the matched route's template, which a proxy's root path does not change."""
    path: str = getattr(request.scope.get("route"), "path", "")
    return path.startswith(_LIMITED_PREFIX)


def retry_after_seconds(wait_us: int) -> int:
    """``Retry-After`` is whole seconds: rounded up, so a client that obeys it is let in."""
    return max(1, -(-wait_us // _MICROS))


def rate_limited(wait_us: int, setting: str) -> Problem:
    problem = Problem(429, "rate-limited", "Too many requests for this API key",
                      f"This key's role allows so many requests ({setting}); try again after "
                      "Retry-After seconds.")
    problem.headers["Retry-After"] = str(retry_after_seconds(wait_us))
    return problem


class RateLimiter:
    def __init__(self, redis: Redis, settings: Settings,
                 timeout: float = TIMEOUT_SECONDS) -> None:
        self._redis = redis
        self._script = redis.register_script(GCRA_LUA)
        # No wait of its own: the checks that arrive while a pipeline is out, or in the same
        # turn of the event loop, go together in the next.
        self._batcher: Batcher[tuple[str, int, int], int] = Batcher(self._evaluate, 0.0, 256)
        self._limits = {"sender": settings.rate_limit_sender,
                        "marketer": settings.rate_limit_marketer,
                        "admin": settings.rate_limit_admin}
        self._timeout = timeout
        self._open = False
        self._probe_at = 0.0
        self.refused: Counter[str] = Counter()
        self.unchecked = 0

    def attach(self, state: Any) -> None:
        state.rate_limiter = self

    @staticmethod
    def of(request: Request) -> RateLimiter:
        limiter: RateLimiter = request.app.state.rate_limiter
        return limiter

    async def drain(self, seconds: float) -> bool:
        return await self._batcher.drain(seconds)

    async def check(self, key: ApiKey) -> None:
        """Counts one request of ``key``; raises a 429 problem if it is over its limit."""
        limit = self._limits[key.role]
        if limit is None:
            return
        if self._open and time.monotonic() < self._probe_at:
            self.unchecked += 1
            return
        try:
            async with asyncio.timeout(self._timeout):
                wait_us = await self._batcher.submit(
                    (f"{KEY_PREFIX}{key.id}", interval_us(limit), limit.burst))
        except REDIS_UNREACHABLE as exc:
            if not self._open:
                log.warning("rate limiter open: API keys are not limited until Redis answers",
                            extra=fields(exception=type(exc).__name__))
            self._open = True
            self._probe_at = time.monotonic() + PROBE_SECONDS
            self.unchecked += 1
            return
        if self._open:
            self._open = False
            log.info("rate limiter closed: API keys are limited again")
        if wait_us:
            self.refused[key.role] += 1
            raise rate_limited(wait_us, f"RATE_LIMIT_{key.role.upper()}")

    async def _evaluate(self, calls: list[tuple[str, int, int]]) -> list[int | BaseException]:
        """The checks that arrived together, in one pipelined round trip; each script is still
        its own atomic step on Redis's clock. Bounded by the timeout itself, so a silent Redis
        leaves no batch hanging."""
        async with asyncio.timeout(self._timeout):
            results = await self._pipeline(calls)
            missing = [n for n, result in enumerate(results) if isinstance(result, NoScriptError)]
            if missing:  # Redis restarted, or its scripts were flushed: load it, run those again
                await self._redis.script_load(GCRA_LUA)
                for n, result in zip(missing, await self._pipeline([calls[n] for n in missing]),
                                     strict=True):
                    results[n] = result
        return [result if isinstance(result, BaseException) else int(result)
                for result in results]

    async def _pipeline(self, calls: list[tuple[str, int, int]]) -> list[Any]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for redis_key, interval, burst in calls:
                pipe.evalsha(self._script.sha, 1, redis_key, str(interval), str(burst))
            results: list[Any] = await pipe.execute(raise_on_error=False)
        return results

    def lines(self) -> list[str]:
        """This process's figures for ``/metrics``."""
        return [
            "# HELP hipaa_mail_rate_limited Requests refused with 429, by the key's role.",
            "# TYPE hipaa_mail_rate_limited counter",
            *(f'hipaa_mail_rate_limited_total{{role="{role}"}} {self.refused[role]}'
              for role in self._limits),
            "# HELP hipaa_mail_rate_limiter_open 1 while Redis is out of reach and API keys are"
            " not limited.",
            "# TYPE hipaa_mail_rate_limiter_open gauge",
            f"hipaa_mail_rate_limiter_open {int(self._open)}",
            "# HELP hipaa_mail_rate_limiter_unchecked Requests let through unlimited because"
            " Redis was out of reach.",
            "# TYPE hipaa_mail_rate_limiter_unchecked counter",
            f"hipaa_mail_rate_limiter_unchecked_total {self.unchecked}",
        ]
