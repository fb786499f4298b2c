"""The stores an API process shares between requests: created in the app's lifespan, closed at
shutdown, reached by routes as ``request.app.state.resources``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from arq.connections import ArqRedis

from service.core.config import Settings
from service.db.pool import create_db_pool
from service.db.queue import Nudger, close_redis, open_queue


@dataclass(frozen=True, slots=True)
class Resources:
    settings: Settings
    db: asyncpg.Pool
    redis: ArqRedis
    nudger: Nudger


@asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[Resources]:
    db = await create_db_pool(settings)
    try:
        redis = open_queue(settings)
        try:
            yield Resources(settings, db, redis, Nudger(redis, settings.queue_name))
        finally:
            await close_redis(redis)
    finally:
        await db.close()
