"""Dashboard sign-in sessions: a random cookie token, stored only as its hash.

The cookie is HttpOnly and SameSite=Strict (and Secure when the service is reached over https),
so no other site can send it or read it. Every form carries a CSRF token derived with a server
key from what the browser holds: the session token, or before sign-in a random pre-session
cookie; it is checked in constant time.

A session is either at the ``enrol`` stage (the key was right, the key has no second factor yet:
only enrolment is open to it) or ``signed_in``. Each stage change and each sign-in issues a new
token and ends the one the browser held, so a token planted before sign-in never gains rights.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

import asyncpg

from service.access import ApiKey
from service.core.crypto import Keyring, token_hash
from service.db.queries import QUERIES

COOKIE = "hm_admin"
PRE_COOKIE = "hm_admin_pre"
# OWASP ASVS 3.3.2 (level 2): re-authenticate after 30 minutes idle, and after at most 12 hours
# in any case; 8 hours is one working day.
IDLE_SECONDS = 30 * 60
SESSION_SECONDS = 8 * 3600

Stage = Literal["enrol", "signed_in"]

_SESSION_CSRF = b"admin-csrf"
_PRE_SESSION_CSRF = b"admin-sign-in-csrf"


@dataclass(frozen=True, slots=True)
class Session:
    key: ApiKey
    # The public half of the API key: what sign-in failures are counted against.
    key_id: str
    stage: Stage


async def start(db: asyncpg.Connection, key: ApiKey, stage: Stage, replacing: str | None) -> str:
    if replacing:
        await end(db, replacing)
    token = secrets.token_urlsafe(32)
    await db.execute(
        QUERIES.insert_admin_session, token_hash(token.encode()), key.id, float(SESSION_SECONDS),
        stage,
    )
    return token


async def session(db: asyncpg.Pool, token: str | None) -> Session | None:
    """The live session of ``token``, at either stage; finding it slides its idle end."""
    if not token or len(token) > 100:
        return None
    row = await db.fetchrow(QUERIES.admin_session, token_hash(token.encode()),
                            float(IDLE_SECONDS))
    return Session(ApiKey.from_row(row), row["key_id"], row["stage"]) if row else None


async def current(db: asyncpg.Pool, token: str | None) -> ApiKey | None:
    """The key of a fully signed-in session: an enrolment session does not open the dashboard."""
    found = await session(db, token)
    return found.key if found is not None and found.stage == "signed_in" else None


async def end(db: asyncpg.Pool | asyncpg.Connection, token: str) -> None:
    await db.execute(QUERIES.delete_admin_session, token_hash(token.encode()))


async def purge(db: asyncpg.Pool) -> None:
    await db.execute(QUERIES.purge_admin_sessions, float(IDLE_SECONDS))


def new_pre_session() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(keyring: Keyring, session: str) -> str:
    return keyring.mac(_SESSION_CSRF, session.encode()).hex()


def csrf_ok(keyring: Keyring, session: str, presented: str) -> bool:
    return hmac.compare_digest(csrf_token(keyring, session).encode(), presented.encode())


def pre_session_csrf(keyring: Keyring, pre_session: str) -> str:
    return keyring.mac(_PRE_SESSION_CSRF, pre_session.encode()).hex()


def pre_session_csrf_ok(keyring: Keyring, pre_session: str, presented: str) -> bool:
    return hmac.compare_digest(pre_session_csrf(keyring, pre_session).encode(),
                               presented.encode())
