"""API keys and roles.

A key reads ``hm_<key id>_<secret>``. The key id is public and indexes the row; only a hash of the
secret is stored and it is compared in constant time, so neither a database copy nor timing gives
a usable key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg
from starlette.requests import Request

from service.access.organizations import find_organization
from service.access.rate_limit import RateLimiter, is_limited
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
    organization_id: uuid.UUID
    # Prefixed to the organization's keyed digests (see access/organizations.py).
    index_scope: bytes

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> ApiKey:
        return cls(row["id"], row["role"], row["name"], row["organization_id"],
                   bytes(row["index_scope"]))

    @property
    def actor(self) -> str:
        """How the audit trail names this key."""
        return f"api-key:{self.id}"


def _hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


@dataclass(frozen=True, slots=True)
class NewKey:
    id: uuid.UUID
    key_id: str
    # The whole key: shown once, never stored.
    presented: str


async def insert_api_key(
    db: asyncpg.Pool | asyncpg.Connection, role: Role, name: str, organization_id: uuid.UUID, *,
    expires_at: dt.datetime | None = None, rotated_from: uuid.UUID | None = None,
) -> NewKey:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    new_id, key_id, secret = uuid.uuid4(), secrets.token_hex(8), secrets.token_urlsafe(32)
    await db.execute(
        QUERIES.insert_api_key, new_id, key_id, _hash_secret(secret), role, name,
        organization_id, expires_at, rotated_from,
    )
    return NewKey(new_id, key_id, f"{_PREFIX}_{key_id}_{secret}")


async def create_api_key(
    pool: asyncpg.Pool, role: Role, name: str, organization: str | None = None
) -> str:
    """A new key of ``organization`` (by name; None: the only organization there is)."""
    new = await insert_api_key(pool, role, name, await find_organization(pool, organization))
    return new.presented


class VerifiedKeys:
    """Keys verified in the last few seconds, by a hash of the whole presented key; and when
    each key was last used, for ``access/key_events.py`` to write a batch at a time.

    Saves a database round trip on most requests from a busy client. A revoked or rotated key
    must not wait out ``ttl``: every change to a key is sent to every API process (PostgreSQL
    NOTIFY), which then forgets every key (``forget_all``); while that news cannot arrive
    (``trusted`` False), nothing is served from here.
    """

    def __init__(self, ttl: float = 10.0, capacity: int = 1024) -> None:
        self._ttl = ttl
        self._capacity = capacity
        self._entries: dict[bytes, tuple[float, ApiKey]] = {}
        # Bumped by forget_all: a key read from the database before a change is not cached after.
        self.generation = 0
        self.trusted = True
        self.used: dict[uuid.UUID, float] = {}

    def attach(self, state: Any) -> None:
        state.verified_keys = self

    @staticmethod
    def of(request: Request) -> VerifiedKeys:
        verified: VerifiedKeys = request.app.state.verified_keys
        return verified

    def get(self, fingerprint: bytes) -> ApiKey | None:
        entry = self._entries.get(fingerprint)
        if entry is None or entry[0] < time.monotonic() or not self.trusted:
            return None
        self.used[entry[1].id] = time.time()
        return entry[1]

    def put(self, fingerprint: bytes, key: ApiKey, generation: int,
            expires_at: dt.datetime | None) -> None:
        self.used[key.id] = time.time()
        if generation != self.generation or not self.trusted:
            return
        if len(self._entries) >= self._capacity:
            self._entries.clear()
        deadline = time.monotonic() + self._ttl
        if expires_at is not None:
            deadline = min(deadline, time.monotonic() + (
                expires_at - dt.datetime.now(dt.UTC)).total_seconds())
        self._entries[fingerprint] = (deadline, key)

    def forget_all(self) -> None:
        self._entries.clear()
        self.generation += 1


def split_key(presented: str) -> tuple[str, str] | None:
    """The public key id and the secret of a presented key, or None if it is not one of ours."""
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != _PREFIX or not secret or len(key_id) != 16:
        return None
    return key_id, secret


async def authenticate(
    pool: asyncpg.Pool, header: str | None, verified: VerifiedKeys | None = None
) -> ApiKey | None:
    if not header or not header.startswith("Bearer "):
        return None
    presented = header[len("Bearer ") :].strip()
    parts = split_key(presented)
    if parts is None:
        return None
    key_id, secret = parts
    fingerprint = _hash_secret(presented)
    if verified is not None and (cached := verified.get(fingerprint)) is not None:
        return cached
    generation = verified.generation if verified is not None else 0
    row = await pool.fetchrow(QUERIES.find_api_key, key_id)
    if row is None or not hmac.compare_digest(row["secret_hash"], _hash_secret(secret)):
        return None
    key = ApiKey.from_row(row)
    if verified is not None:
        verified.put(fingerprint, key, generation, row["expires_at"])
    return key


async def require(request: Request, *roles: Role) -> ApiKey:
    key = await authenticate(
        request.app.state.resources.db, request.headers.get("authorization"),
        VerifiedKeys.of(request),
    )
    if key is None:
        raise unauthorized()
    # Before the role check: a key spends the service's time on refused requests too.
    if is_limited(request):
        await RateLimiter.of(request).check(key)
    if key.role not in roles:
        raise Problem(403, "forbidden", "This API key's role may not do this")
    return key
