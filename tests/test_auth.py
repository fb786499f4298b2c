"""API keys: stored hashed, verified in constant time, cached only by a hash of the whole key."""

from __future__ import annotations

import hashlib

import asyncpg
import pytest
from starlette.applications import Starlette

from service.access import VerifiedKeys, authenticate, create_api_key


@pytest.fixture
def pool(app: Starlette) -> asyncpg.Pool:
    return app.state.resources.db


async def test_only_a_hash_of_the_secret_is_stored(pool: asyncpg.Pool) -> None:
    key = await create_api_key(pool, "sender", "ehr")
    secret = key.split("_", 2)[2]
    row = await pool.fetchrow("SELECT * FROM api_keys")
    assert secret not in str(dict(row))
    assert row["secret_hash"] == hashlib.sha256(secret.encode()).digest()
    assert (row["role"], row["name"]) == ("sender", "ehr")


async def test_a_cached_key_still_needs_its_exact_secret(pool: asyncpg.Pool) -> None:
    verified = VerifiedKeys()
    key = await create_api_key(pool, "sender", "ehr")
    assert await authenticate(pool, f"Bearer {key}", verified) is not None
    forged = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert await authenticate(pool, f"Bearer {forged}", verified) is None


async def test_revocation_takes_effect_once_the_cache_entry_expires(pool: asyncpg.Pool) -> None:
    verified = VerifiedKeys(ttl=0.0)
    key = await create_api_key(pool, "admin", "ops")
    assert (await authenticate(pool, f"Bearer {key}", verified)) is not None
    await pool.execute("UPDATE api_keys SET revoked_at = now()")
    assert await authenticate(pool, f"Bearer {key}", verified) is None


async def test_unknown_roles_are_refused(pool: asyncpg.Pool) -> None:
    with pytest.raises(ValueError, match="role"):
        await create_api_key(pool, "root", "x")  # type: ignore[arg-type]
