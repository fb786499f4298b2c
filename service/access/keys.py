"""API keys and roles.

A key reads ``hm_<key id>_<secret>``. The key id is public and indexes the row; only a hash of the
secret is stored and it is compared in constant time, so neither a database copy nor timing gives
a usable key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg
from starlette.requests import Request

from service.core.problems import Problem, unauthorized
from service.db.queries import QUERIES

Role = Literal["sender", "marketer", "admin"]
ROLES: tuple[Role, ...] = ("sender", "marketer", "admin")

_PREFIX = "hm"


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: uuid.UUID
    role: Role
    name: str

    @property
    def actor(self) -> str:
        """How the audit trail names this key."""
        return f"api-key:{self.id}"


def _hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


async def create_api_key(pool: asyncpg.Pool, role: Role, name: str) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    await pool.execute(
        QUERIES.insert_api_key, uuid.uuid4(), key_id, _hash_secret(secret), role, name
    )
    return f"{_PREFIX}_{key_id}_{secret}"


class VerifiedKeys:
    """Keys verified in the last few seconds, by a hash of the whole presented key.

    Saves a database round trip on most requests from a busy client. The price: a revoked key
    keeps working for up to ``ttl`` seconds in a process that verified it just before.
    """

    def __init__(self, ttl: float = 10.0, capacity: int = 1024) -> None:
        self._ttl = ttl
        self._capacity = capacity
        self._entries: dict[bytes, tuple[float, ApiKey]] = {}

    def attach(self, state: Any) -> None:
        state.verified_keys = self

    @staticmethod
    def of(request: Request) -> VerifiedKeys:
        verified: VerifiedKeys = request.app.state.verified_keys
        return verified

    def get(self, fingerprint: bytes) -> ApiKey | None:
        entry = self._entries.get(fingerprint)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, fingerprint: bytes, key: ApiKey) -> None:
        if len(self._entries) >= self._capacity:
            self._entries.clear()
        self._entries[fingerprint] = (time.monotonic() + self._ttl, key)


async def authenticate(
    pool: asyncpg.Pool, header: str | None, verified: VerifiedKeys | None = None
) -> ApiKey | None:
    if not header or not header.startswith("Bearer "):
        return None
    presented = header[len("Bearer ") :].strip()
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != _PREFIX or not key_id or not secret or len(key_id) != 16:
        return None
    fingerprint = _hash_secret(presented)
    if verified is not None and (cached := verified.get(fingerprint)) is not None:
        return cached
    row = await pool.fetchrow(QUERIES.find_api_key, key_id)
    if row is None or not hmac.compare_digest(row["secret_hash"], _hash_secret(secret)):
        return None
    key = ApiKey(row["id"], row["role"], row["name"])
    if verified is not None:
        verified.put(fingerprint, key)
    return key


async def require(request: Request, *roles: Role) -> ApiKey:
    key = await authenticate(
        request.app.state.resources.db, request.headers.get("authorization"),
        VerifiedKeys.of(request),
    )
    if key is None:
        raise unauthorized()
    if key.role not in roles:
        raise Problem(403, "forbidden", "This API key's role may not do this")
    return key
