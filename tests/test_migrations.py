"""Migrations apply once, in order, even when several processes run them at once; every named
query prepares against the migrated schema."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from service.migrations import MIGRATIONS_DIR, migrate
from service.queries import QUERIES
from tests.conftest import ADMIN_DSN


@pytest.fixture
async def empty_database() -> AsyncIterator[str]:
    name = f"hipaa_mail_mig_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_concurrent_migrations_apply_each_file_once(empty_database: str) -> None:
    results = await asyncio.gather(*(migrate(empty_database) for _ in range(4)))
    files = sorted(p.stem for p in MIGRATIONS_DIR.glob("*.sql"))
    applied = [version for result in results for version in result]
    assert sorted(applied) == files  # each once, by whichever process got there first
    assert await migrate(empty_database) == []
    conn = await asyncpg.connect(empty_database)
    recorded = [
        r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")
    ]
    await conn.close()
    assert recorded == files


async def test_every_named_query_prepares(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        for name in QUERIES.names:
            await conn.prepare(getattr(QUERIES, name.replace("-", "_")))
    finally:
        await conn.close()
    assert "claim-due-messages" in QUERIES.names
