"""Dashboard sign-in sessions: a random cookie token, stored only as its hash.

The cookie is HttpOnly and SameSite=Strict (and Secure when the service is reached over https),
so no other site can send it or read it. State-changing forms also carry a CSRF token derived
from the session token with a server key; it is checked in constant time.
"""

from __future__ import annotations

import hmac
import secrets

import asyncpg

from service.access import ApiKey
from service.core.crypto import Keyring, token_hash
from service.db.queries import QUERIES

COOKIE = "hm_admin"
SESSION_SECONDS = 8 * 3600


async def start(db: asyncpg.Pool, key: ApiKey) -> str:
    token = secrets.token_urlsafe(32)
    await db.execute(
        QUERIES.insert_admin_session, token_hash(token.encode()), key.id, float(SESSION_SECONDS)
    )
    return token


async def current(db: asyncpg.Pool, token: str | None) -> ApiKey | None:
    if not token or len(token) > 100:
        return None
    row = await db.fetchrow(QUERIES.admin_session, token_hash(token.encode()))
    return ApiKey(row["id"], row["role"], row["name"]) if row else None


async def end(db: asyncpg.Pool, token: str) -> None:
    await db.execute(QUERIES.delete_admin_session, token_hash(token.encode()))


def csrf_token(keyring: Keyring, session: str) -> str:
    return keyring.mac(b"admin-csrf", session.encode()).hex()


def csrf_ok(keyring: Keyring, session: str, presented: str) -> bool:
    return hmac.compare_digest(csrf_token(keyring, session).encode(), presented.encode())
