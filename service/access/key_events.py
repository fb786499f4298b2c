"""What each API process does beside its requests to keep its keys current.

Revocations and rotations: one connection per process LISTENs on the channel a change to a key
NOTIFYs in its own transaction (``key_admin.py``), and forgets every cached key when one arrives,
so a revoked key's very next request is looked up, and refused. Forgetting all is enough: keys
change rarely, and the cost is one lookup per busy key. Should that connection fail, the cache is
not used until it is back (a change made meanwhile would go unheard); a ping every few seconds
finds a connection that died without closing.

Last use: each request only notes the time in memory (``VerifiedKeys.used``); it is written for
all of the process's keys in one statement a minute, and at shutdown, so no request waits on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator

import asyncpg

from service.access.keys import VerifiedKeys
from service.core.logs import fields
from service.db.queries import QUERIES

CHANNEL = "api_keys_changed"
# How the listening connection shows in pg_stat_activity.
APPLICATION_NAME = "hipaa-mail key events"
FLUSH_SECONDS = 60.0
_PING_SECONDS = 5.0
_RETRY_SECONDS = (0.5, 10.0)
_DATABASE_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def key_events(
    database_url: str, db: asyncpg.Pool, verified: VerifiedKeys,
) -> AsyncIterator[None]:
    verified.trusted = False
    tasks = [asyncio.create_task(_listen(database_url, verified)),
             asyncio.create_task(_flush_every(db, verified))]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Shutdown must not hang on a database that is out of reach.
        with contextlib.suppress(*_DATABASE_ERRORS):
            await asyncio.wait_for(flush_last_used(db, verified), _PING_SECONDS)


async def flush_last_used(db: asyncpg.Pool, verified: VerifiedKeys) -> None:
    used, verified.used = verified.used, {}
    if not used:
        return
    ids = sorted(used)
    try:
        await db.execute(QUERIES.touch_api_keys, ids,
                         [dt.datetime.fromtimestamp(used[i], dt.UTC) for i in ids])
    except BaseException:
        # Kept for the next write, unless a later use replaced it meanwhile.
        for key_id, at in used.items():
            verified.used[key_id] = max(at, verified.used.get(key_id, at))
        raise


async def _flush_every(db: asyncpg.Pool, verified: VerifiedKeys) -> None:
    while True:
        await asyncio.sleep(FLUSH_SECONDS)
        try:
            await flush_last_used(db, verified)
        except _DATABASE_ERRORS as exc:
            log.warning("could not write keys' last use; retrying",
                        extra=fields(error=type(exc).__name__))


async def _listen(database_url: str, verified: VerifiedKeys) -> None:
    delay = _RETRY_SECONDS[0]
    while True:
        try:
            conn = await asyncpg.connect(database_url, timeout=_PING_SECONDS,
                                         server_settings={"application_name": APPLICATION_NAME})
        except _DATABASE_ERRORS as exc:
            log.warning("cannot listen for key revocations; cached keys unused meanwhile",
                        extra=fields(error=type(exc).__name__))
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_SECONDS[1])
            continue
        started = time.monotonic()
        try:
            await _listen_on(conn, verified)
            log.warning("lost the key revocation listener; reconnecting")
        except _DATABASE_ERRORS as exc:
            log.warning("lost the key revocation listener; reconnecting",
                        extra=fields(error=type(exc).__name__))
        finally:
            verified.trusted = False
            conn.terminate()
        # At once after a long life; backing off when connections keep failing young.
        if time.monotonic() - started > 60:
            delay = _RETRY_SECONDS[0]
        else:
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_SECONDS[1])


async def _listen_on(conn: asyncpg.Connection, verified: VerifiedKeys) -> None:
    """Until the connection is lost."""
    lost = asyncio.Event()
    conn.add_termination_listener(lambda _conn: lost.set())
    await conn.add_listener(CHANNEL, lambda *_: verified.forget_all())
    # A change made while nobody listened is among what is forgotten here.
    verified.forget_all()
    verified.trusted = True
    while not lost.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(lost.wait(), _PING_SECONDS)
            return
        await conn.fetchval("SELECT 1", timeout=_PING_SECONDS)
