"""Migrations apply once, in order, even when several processes run them at once; every named
query prepares against the migrated schema."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

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


async def test_ledgers_written_before_0008_are_in_the_marketing_state_after_it(
    empty_database: str, tmp_path: Path,
) -> None:
    for path in sorted(MIGRATIONS_DIR.glob("000[1-7]_*.sql")):
        (tmp_path / path.name).write_text(path.read_text())
    await migrate(empty_database, tmp_path)
    conn = await asyncpg.connect(empty_database)
    try:
        key = uuid.uuid4()
        await conn.execute(QUERIES.insert_api_key, key, "k", b"h", "admin", "t")
        ledgers = {"confirmed": ("grant", "confirm"), "unconfirmed": ("grant",),
                   "unsubscribed": ("grant", "confirm", "revoke")}
        contacts = {}
        for name, actions in ledgers.items():
            contact, auth = uuid.uuid4(), uuid.uuid4()
            contacts[name] = contact
            await conn.execute(
                "INSERT INTO contacts (id, email_index, email_sealed, created_by)"
                " VALUES ($1, $2, 'x', $3)", contact, contact.bytes * 2, key)
            await conn.execute(
                "INSERT INTO marketing_authorizations (id, contact_id, information_used, used_by,"
                " purpose_description, expiry_event, signed_at, revocation_right_noted,"
                " remuneration, document_sha256, confirm_token_hash, created_by) VALUES ($1, $2,"
                " 'e', 'c', 'n', 'end of study', now(), true, false, $3, $3, $4)",
                auth, contact, auth.bytes * 2, key)
            for action in actions:
                source = "unsubscribe_link" if action == "revoke" else "paper"
                await conn.execute(QUERIES.insert_consent_event, contact, "marketing", action,
                                   source, "t", None if action == "revoke" else auth)
        await migrate(empty_database)
        state = {
            row["contact_id"]: (row["confirmed"], row["revoked_by"])
            for row in await conn.fetch("SELECT * FROM marketing_consent")
        }
    finally:
        await conn.close()
    assert state == {
        contacts["confirmed"]: (True, None),
        contacts["unconfirmed"]: (False, None),
        contacts["unsubscribed"]: (True, "unsubscribe_link"),
    }
