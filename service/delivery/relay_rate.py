"""A ceiling on messages per second into one relay, shared by every worker on every machine.

Relays (and the mail providers behind them) throttle senders; going over their rate earns 4xx
deferrals at best and a blocked sending reputation at worst. Each send reserves the next free
slot in a schedule kept in Redis (GCRA: one key holding the time the next slot opens), on Redis's
own clock so that workers with drifting clocks still agree. The schedule is spaced exactly
1/rate apart, so no second, however it is cut, carries more than the rate (plus one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, cast

from redis.asyncio import Redis

# KEYS: schedule. ARGV: seconds between sends. Returns the seconds to wait for the slot taken.
_RESERVE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local interval = tonumber(ARGV[1])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
redis.call('SET', KEYS[1], string.format('%.6f', slot + interval),
           'PX', math.ceil((slot + interval - now) * 1000) + 1000)
return string.format('%.6f', slot - now)
"""


class RelayRate:
    def __init__(self, redis: Redis, relay: str, per_second: int) -> None:
        self._redis = redis
        self._key = f"hipaa-mail:relay-rate:{relay}"
        self._interval = 1.0 / per_second

    async def wait_turn(self) -> None:
        """Returns when this send may go; the slot is taken even if the send then fails."""
        delay: Any = await cast(Awaitable[Any], self._redis.eval(
            _RESERVE, 1, self._key, repr(self._interval)
        ))
        wait = float(delay)
        if wait > 0:
            await asyncio.sleep(wait)
