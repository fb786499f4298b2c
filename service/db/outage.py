"""What a PostgreSQL outage looks like from here, and how to ride one out.

One test (``is_outage``) of the errors that mean "the database cannot be reached right now" (a
restart, a failover, a network cut), as opposed to a query that is wrong: the API answers those
with 503 and ``Retry-After``, the worker retries its writes through them, and its jobs start
again. A connection the server closed mid-operation also shows up as asyncpg's
``InternalClientError`` (its protocol left half-way) or as an ``InterfaceError`` saying the
connection is closed; the rest of the ``InterfaceError`` family is misuse of a connection, which
no amount of waiting fixes, and stays an error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

log = logging.getLogger(__name__)

T = TypeVar("T")

_UNREACHABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # class 08: the connection failed or was lost
    asyncpg.CannotConnectNowError,  # 57P03: starting up or shutting down
    asyncpg.AdminShutdownError,  # 57P01: a fast or smart shutdown ended the session
    asyncpg.CrashShutdownError,  # 57P02: another backend crashed
    OSError,  # refused, reset, no route
    TimeoutError,  # connect timed out
)

# How long a client should wait before asking again (the header and the worker's retry pace).
RETRY_AFTER_SECONDS = 2
# A write the worker must not lose is retried this long (capped backoff), well past a restart
# or a failover, before it gives up and leaves the row to its lease.
WRITE_PERSISTENCE_SECONDS = 120.0
_BACKOFF_FIRST = 0.05
_BACKOFF_CAP = 1.0


_CLOSED = ("connection is closed", "connection was closed")


def is_outage(exc: BaseException) -> bool:
    """True for an outage, also when it surfaced as another error raised while handling one
    (a transaction's rollback on a dead connection)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (*_UNREACHABLE, asyncpg.InternalClientError)):
            return True
        if isinstance(current, asyncpg.InterfaceError) and any(
            words in str(current) for words in _CLOSED
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


async def persist(write: Callable[[], Awaitable[T]], what: str,
                  seconds: float = WRITE_PERSISTENCE_SECONDS) -> T:
    """Runs ``write`` until it goes through, retrying only on an outage, with a backoff that
    doubles up to a second (so a database that is back is used within a second)."""
    deadline = time.monotonic() + seconds
    delay = _BACKOFF_FIRST
    while True:
        try:
            return await write()
        except Exception as exc:
            if not is_outage(exc) or time.monotonic() + delay > deadline:
                raise
            log.warning("%s: database unreachable (%s); retrying", what, type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _BACKOFF_CAP)
