"""Sign-in throttling: too many failures for one key id, or from one client, lock it for a while.

OWASP ASVS 2.2.1 asks for at most 100 failed attempts an hour on one account; here a key id gets
5 in 15 minutes (then 15 minutes locked, so 20 an hour at most) and one client address 20 across
all keys, which still lets an admin mistype a few times. The counters are rows in PostgreSQL,
never Redis: if the store of counters is down, so is sign-in, instead of guessing without limit.
Attempts on one subject run one at a time (a transaction-scoped advisory lock), so a burst of
concurrent guesses cannot all slip in under the limit. Each failure and each lock is audited;
the presented key's secret and the code never are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from service import audit
from service.db.queries import QUERIES

WINDOW_SECONDS = 15 * 60
LOCK_SECONDS = 15 * 60
KEY_LIMIT = 5
CLIENT_LIMIT = 20


@dataclass(frozen=True, slots=True)
class Attempt:
    """One sign-in attempt, inside the transaction that serialises it with its subjects'."""

    conn: asyncpg.Connection
    key_subject: str | None
    client_subject: str
    # Set when a subject is locked: the attempt must not be checked at all.
    locked_until: dt.datetime | None

    async def failed(self, object_id: str, reason: str) -> dt.datetime | None:
        """Counts and audits the failure; the end of the lock it caused, if it caused one."""
        await audit.record(self.conn, actor=self.client_subject, action="admin.sign_in",
                           object_type="api_key", object_id=object_id, outcome="refused",
                           detail=reason)
        subjects = [s for s in (self.key_subject, self.client_subject) if s is not None]
        await self.conn.execute(QUERIES.insert_sign_in_failure, subjects)
        locked = None
        for subject, limit in ((self.key_subject, KEY_LIMIT),
                               (self.client_subject, CLIENT_LIMIT)):
            if subject is None:
                continue
            count = await self.conn.fetchval(QUERIES.sign_in_failures, subject,
                                             float(WINDOW_SECONDS))
            if count >= limit:
                locked = await self.conn.fetchval(QUERIES.lock_sign_in, subject,
                                                  float(LOCK_SECONDS))
                await audit.record(self.conn, actor=self.client_subject,
                                   action="admin.sign_in.lock", object_type="sign_in_subject",
                                   object_id=subject, outcome="locked",
                                   detail=f"{count} failures; {LOCK_SECONDS} s")
        return locked

    async def succeeded(self, actor: str, object_id: str) -> None:
        await audit.record(self.conn, actor=actor, action="admin.sign_in",
                           object_type="api_key", object_id=object_id, outcome="ok",
                           detail=self.client_subject)
        if self.key_subject is not None:
            await self.conn.execute(QUERIES.clear_sign_in_failures, self.key_subject)


@asynccontextmanager
async def attempt(db: asyncpg.Pool, key_id: str | None, client: str) -> AsyncIterator[Attempt]:
    """A transaction for one attempt on ``key_id`` (the public half of the presented key, None
    when nothing like one was presented) from ``client``; what it records commits together."""
    key_subject = f"key:{key_id}" if key_id is not None else None
    client_subject = f"client:{client}"
    subjects = [s for s in (key_subject, client_subject) if s is not None]
    async with db.acquire() as conn, conn.transaction():
        await conn.execute(QUERIES.sign_in_serialise, subjects)
        locked_until = await conn.fetchval(QUERIES.sign_in_lock_until, subjects)
        yield Attempt(conn, key_subject, client_subject, locked_until)


async def purge(db: asyncpg.Pool) -> None:
    await db.execute(QUERIES.purge_sign_in_failures, float(WINDOW_SECONDS))
    await db.execute(QUERIES.purge_sign_in_locks)
