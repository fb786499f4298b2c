"""Managing API keys: list, create, revoke, rotate. The operator's CLI and an organization's
admin (``/v1/keys``) both come here; each change is audited in its own transaction, naming the
key by its public id and never its secret.

Revoking is at once and everywhere: the change is announced (NOTIFY) in the revoking
transaction, so every API process forgets its cached keys when it commits (``key_events.py``),
and the key's dashboard sessions end in the same transaction.

Rotating makes a new key of the same role, name, organization and expiry, and gives the old one
an end: ``old_valid_until`` (24 hours by default, at most 30 days), or its own expiry if sooner.
From then it is refused as an expired key is. A key is rotated once: to rotate it again, revoke
its successor (one whose key was lost, say) first.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

import asyncpg

from service import audit
from service.access.keys import NewKey, Role, insert_api_key
from service.core.pagination import PageRequest
from service.core.problems import Problem
from service.db.queries import QUERIES

ROTATION_OVERLAP = dt.timedelta(hours=24)
MAX_ROTATION_OVERLAP = dt.timedelta(days=30)
NAME_MAX = 200
_KEY_ID = re.compile("[0-9a-f]{16}")


@dataclass(frozen=True, slots=True)
class Rotated:
    new: NewKey
    old_valid_until: dt.datetime


def not_found() -> Problem:
    return Problem(404, "not-found", "Not found")


def parse_time(text: str) -> dt.datetime:
    """An ISO 8601 time with its offset (``2026-01-31T17:00:00Z``): a time without one would mean
    a different instant on the operator's machine and on the server."""
    try:
        when = dt.datetime.fromisoformat(text)
        utc = when.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        # Not the parser's message: it quotes the text.
        raise ValueError("not an ISO 8601 time, e.g. 2026-01-31T17:00:00Z") from None
    if when.tzinfo is None:
        raise ValueError("give the time with its offset, e.g. 2026-01-31T17:00:00Z")
    return utc


def future(when: dt.datetime, most: dt.timedelta | None = None) -> dt.datetime:
    now = dt.datetime.now(dt.UTC)
    if when <= now:
        raise ValueError("must be in the future")
    if most is not None and when > now + most:
        raise ValueError(f"may be at most {most.days} days ahead")
    return when


async def listing(
    db: asyncpg.Pool, organization_id: uuid.UUID | None, wanted: PageRequest | None = None,
    key_id: str | None = None,
) -> list[asyncpg.Record]:
    """Keys, newest first: a page of them (``wanted``), all (None), or the one ``key_id``."""
    after = wanted.after if wanted is not None and wanted.after is not None else (None, None)
    limit = wanted.limit + 1 if wanted is not None else None
    rows: list[asyncpg.Record] = await db.fetch(
        QUERIES.list_api_keys, organization_id, after[0], after[1], limit, key_id)
    return rows


async def create_key(
    db: asyncpg.Pool, actor: str, role: Role, name: str, organization_id: uuid.UUID,
    expires_at: dt.datetime | None = None,
) -> NewKey:
    async with db.acquire() as conn, conn.transaction():
        new = await insert_api_key(conn, role, name, organization_id, expires_at=expires_at)
        await audit.record(conn, actor=actor, action="api_key.create", object_type="api_key",
                           object_id=new.key_id, outcome="created",
                           detail=_detail(role=role, expires_at=expires_at))
    return new


async def revoke_key(
    db: asyncpg.Pool, actor: str, key_id: str, organization_id: uuid.UUID | None,
) -> bool:
    """Revokes the key (False: it was revoked already, and nothing changed)."""
    async with db.acquire() as conn, conn.transaction():
        key = await _lock(conn, key_id, organization_id)
        revoked: bool = await conn.execute(QUERIES.revoke_api_key, key["id"]) == "UPDATE 1"
        if revoked:
            await conn.execute(QUERIES.delete_admin_sessions_of_key, key["id"])
            await conn.execute(QUERIES.notify_api_key_changed, key_id)
            await audit.record(conn, actor=actor, action="api_key.revoke", object_type="api_key",
                               object_id=key_id, outcome="revoked")
    return revoked


async def rotate_key(
    db: asyncpg.Pool, actor: str, key_id: str, organization_id: uuid.UUID | None,
    old_valid_until: dt.datetime | None = None,
) -> Rotated:
    until = old_valid_until or dt.datetime.now(dt.UTC) + ROTATION_OVERLAP
    async with db.acquire() as conn, conn.transaction():
        old = await _lock(conn, key_id, organization_id)
        if not old["live"]:
            raise Problem(409, "key-not-active", "This key is revoked or expired",
                          "Create a new key instead")
        if old["succeeded"]:
            raise Problem(409, "key-already-rotated", "This key was rotated already",
                          "To rotate it again, revoke the key it was rotated to first")
        new = await insert_api_key(conn, old["role"], old["name"], old["organization_id"],
                                   expires_at=old["expires_at"], rotated_from=old["id"])
        ends = min(until, old["expires_at"] or until)
        await conn.execute(QUERIES.end_api_key_at, old["id"], ends)
        await conn.execute(QUERIES.notify_api_key_changed, key_id)
        await audit.record(conn, actor=actor, action="api_key.rotate", object_type="api_key",
                           object_id=key_id, outcome="rotated",
                           detail=_detail(successor=new.key_id, valid_until=ends))
        await audit.record(conn, actor=actor, action="api_key.create", object_type="api_key",
                           object_id=new.key_id, outcome="created",
                           detail=_detail(role=old["role"], rotated_from=key_id,
                                          expires_at=old["expires_at"]))
    return Rotated(new, ends)


async def _lock(conn: asyncpg.Connection, key_id: str,
                organization_id: uuid.UUID | None) -> asyncpg.Record:
    # Another organization's key and a key that never was are the same answer.
    row = await conn.fetchrow(QUERIES.lock_api_key, key_id, organization_id) if _KEY_ID.fullmatch(
        key_id) else None
    if row is None:
        raise not_found()
    return row


def _detail(**parts: object) -> str:
    return "; ".join(f"{name}={value.isoformat() if isinstance(value, dt.datetime) else value}"
                     for name, value in parts.items() if value is not None)
