"""Engagement counters: Redis takes each hit cheaply, PostgreSQL keeps the sums.

A hit raises one HyperLogLog register and one total in Redis (in a single script, so it is
atomic) and marks its campaign-day dirty. Every few seconds the worker moves the dirty
campaign-days into ``engagement``; Redis keeps nothing on disk, so a Redis restart loses at most
the hits since the last move, never a campaign's numbers. What Redis holds is the same kind of
aggregate as the table: registers and totals, no token, no nonce, no time finer than a day, and
of the request only whether a machine made it.

A campaign-day that reaches the move too late to be counted in an unpublished period (see
``small_cells.accepts_day``) is dropped: a figure once shown never changes, or the change
itself would show a small count.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Awaitable
from typing import Any, cast

import asyncpg
from redis.asyncio import Redis

from service.db.queries import QUERIES
from service.engagement import hyperloglog, small_cells
from service.engagement.tokens import Hit

log = logging.getLogger(__name__)

_PREFIX = "hipaa-mail:engagement"
_DIRTY = f"{_PREFIX}:dirty"
FLUSH_BATCH = 200

# KEYS: registers, totals, dirty. ARGV: register index, rank, target, campaign-day.
_RECORD = """
local current = redis.call('GETRANGE', KEYS[1], ARGV[1], ARGV[1])
if current == '' or string.byte(current) < tonumber(ARGV[2]) then
  redis.call('SETRANGE', KEYS[1], ARGV[1], string.char(tonumber(ARGV[2])))
end
redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
redis.call('SADD', KEYS[3], ARGV[4])
"""

# KEYS: totals. ARGV: registers key prefix. Returns target, total, registers, ... and removes
# them, in one step: a hit arriving meanwhile lands in fresh keys and a later move.
_TAKE = """
local totals = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
local out = {}
for i = 1, #totals, 2 do
  local key = ARGV[1] .. totals[i]
  out[#out + 1] = totals[i]
  out[#out + 1] = totals[i + 1]
  out[#out + 1] = redis.call('GET', key) or ''
  redis.call('DEL', key)
end
return out
"""

# Puts back what a failed move took. KEYS: registers, totals, dirty.
# ARGV: target, total, campaign-day, then the registers themselves.
_RESTORE = """
local current = redis.call('GET', KEYS[1]) or ''
local taken = ARGV[4]
local merged = {}
for i = 1, math.max(#current, #taken) do
  local a = string.byte(current, i) or 0
  local b = string.byte(taken, i) or 0
  merged[i] = string.char(math.max(a, b))
end
redis.call('SET', KEYS[1], table.concat(merged))
redis.call('HINCRBY', KEYS[2], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
"""


async def _script(redis: Redis, script: str, keys: list[str], *args: str | int | bytes) -> Any:
    # redis-py types eval for both its sync and async clients; this one is always async.
    return await cast(Awaitable[Any], redis.eval(script, len(keys), *keys, *args))  # type: ignore[arg-type]


def _campaign_day(campaign_id: uuid.UUID, day: dt.date) -> str:
    return f"{campaign_id}:{day.isoformat()}"


def _registers_prefix(campaign_day: str) -> str:
    return f"{_PREFIX}:registers:{campaign_day}:"


def _totals_key(campaign_day: str) -> str:
    return f"{_PREFIX}:totals:{campaign_day}"


def _field(hit: Hit, machine: bool) -> str:
    target = 0 if hit.link is None else hit.link + 1
    return f"m:{target}" if machine else str(target)


def _target(field: str) -> tuple[int, bool]:
    kind, _, target = field.rpartition(":")
    return int(target), kind == "m"


async def record(redis: Redis, hit: Hit, day: dt.date, machine: bool) -> None:
    campaign_day = _campaign_day(hit.campaign_id, day)
    field = _field(hit, machine)
    index, rank = hyperloglog.position(hit.nonce)
    await _script(
        redis, _RECORD, [_registers_prefix(campaign_day) + field, _totals_key(campaign_day),
                         _DIRTY], index, rank, field, campaign_day,
    )


async def flush(redis: Redis, db: asyncpg.Pool) -> int:
    """Moves every dirty campaign-day into PostgreSQL; returns how many were moved. A
    campaign-day that cannot be written is put back whole and tried again next time."""
    moved = failed = 0
    while not failed and (
        members := await cast(Awaitable[list[bytes]], redis.spop(_DIRTY, FLUSH_BATCH))
    ):
        for member in members:
            if await _move(redis, db, member.decode()):
                moved += 1
            else:
                failed += 1
    if failed:
        log.warning("%d engagement campaign-days could not be moved; kept for the next run",
                    failed)
    return moved


async def _move(redis: Redis, db: asyncpg.Pool, campaign_day: str) -> bool:
    campaign, _, day = campaign_day.rpartition(":")
    taken = await _script(
        redis, _TAKE, [_totals_key(campaign_day)], _registers_prefix(campaign_day)
    )
    rows = [
        (taken[i].decode(), int(taken[i + 1]), hyperloglog.merge(taken[i + 2]))
        for i in range(0, len(taken), 3)
    ]
    when = dt.date.fromisoformat(day)
    if not small_cells.accepts_day(when, dt.datetime.now(dt.UTC).date()):
        log.warning("engagement counts of a published period came too late; dropped")
        return True
    try:
        async with db.acquire() as conn, conn.transaction():
            for field, total, registers in rows:
                await conn.execute(
                    QUERIES.merge_engagement, uuid.UUID(campaign), *_target(field), when, total,
                    registers,
                )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        for field, total, registers in rows:
            await _script(
                redis, _RESTORE, [_registers_prefix(campaign_day) + field,
                                  _totals_key(campaign_day), _DIRTY],
                field, total, campaign_day, registers,
            )
        return False
    return True
