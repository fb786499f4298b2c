"""Migrations apply once, in order, even when several processes run them at once; every named
query prepares against the migrated schema."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from service.db.migrations import MigrationError, head, migrate, shipped_migrations
from service.db.queries import QUERIES
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
    files = [m.version for m in shipped_migrations()]
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


def test_every_top_level_file_ships_in_order() -> None:
    top = Path(__file__).resolve().parents[1] / "migrations"
    on_disk = sorted(p.stem for p in top.glob("*.sql"))
    assert [m.version for m in shipped_migrations()] == on_disk
    assert head() == on_disk[-1]


async def test_a_build_without_migration_files_refuses(empty_database: str) -> None:
    with pytest.raises(MigrationError, match="no migration files"):
        await migrate(empty_database, [])


async def test_a_build_older_than_the_database_refuses_and_changes_nothing(
    empty_database: str,
) -> None:
    await migrate(empty_database)
    older = shipped_migrations()[:-2]
    with pytest.raises(MigrationError, match=r"2 migration\(s\) this build does not have"):
        await migrate(empty_database, older)
    conn = await asyncpg.connect(empty_database)
    try:
        count = await conn.fetchval("SELECT count(*) FROM schema_migrations")
    finally:
        await conn.close()
    assert count == len(shipped_migrations())


async def migrated_up_to(dsn: str, first_left_out: str, role: str,
                         ) -> tuple[asyncpg.Connection, uuid.UUID]:
    """A database migrated by the files before ``first_left_out``, with an API key of ``role``."""
    await migrate(dsn, [m for m in shipped_migrations() if m.version < first_left_out])
    conn = await asyncpg.connect(dsn)
    key = uuid.uuid4()
    await conn.execute("INSERT INTO api_keys (id, key_id, secret_hash, role, name)"
                       " VALUES ($1, 'k', 'h', $2, 't')", key, role)
    return conn, key


async def legacy_authorization(conn: asyncpg.Connection, key: uuid.UUID,
                               terms: tuple[str, str, str, str]) -> tuple[uuid.UUID, uuid.UUID]:
    """A contact and its authorization as releases before 0018 wrote them: terms in the clear."""
    contact, authorization = uuid.uuid4(), uuid.uuid4()
    await conn.execute("INSERT INTO contacts (id, email_index, email_sealed, created_by)"
                       " VALUES ($1, $2, 'x', $3)", contact, contact.bytes * 2, key)
    await conn.execute(
        "INSERT INTO marketing_authorizations (id, contact_id, information_used, used_by,"
        " purpose_description, expiry_event, signed_at, revocation_right_noted, remuneration,"
        " document_sha256, confirm_token_hash, created_by) VALUES ($1, $2, $3, $4, $5, $6,"
        " now(), true, false, $7, $7, $8)",
        authorization, contact, *terms, authorization.bytes * 2, key)
    return contact, authorization


async def test_ledgers_written_before_0008_are_in_the_marketing_state_after_it(
    empty_database: str,
) -> None:
    conn, key = await migrated_up_to(empty_database, "0008", "admin")
    try:
        ledgers = {"confirmed": ("grant", "confirm"), "unconfirmed": ("grant",),
                   "unsubscribed": ("grant", "confirm", "revoke")}
        contacts = {}
        for name, actions in ledgers.items():
            contact, auth = await legacy_authorization(conn, key, ("e", "c", "n", "end of study"))
            contacts[name] = contact
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


async def test_campaigns_started_before_0011_continue_as_one_lane(
    empty_database: str,
) -> None:
    conn, key = await migrated_up_to(empty_database, "0011", "marketer")
    try:
        campaigns = {name: uuid.uuid4() for name in ("halfway", "paused", "done", "draft")}
        for name, status, paused_from, started in [
            ("halfway", "staging", None, True), ("paused", "paused", "staging", True),
            ("done", "done", None, True), ("draft", "draft", None, False),
        ]:
            await conn.execute(
                "INSERT INTO campaigns (id, api_key_id, name, subject, rate_per_second, status,"
                " paused_from, started_at, fanout_cursor, fanout_position, excluded)"
                " VALUES ($1, $2, 'c', 'Newsletter', 10, $3, $4,"
                " CASE WHEN $5 THEN now() END, CASE WHEN $5 THEN '\\x42'::bytea END,"
                " CASE WHEN $5 THEN 7 ELSE 0 END,"
                " CASE WHEN $5 THEN '{\"no_authorization\": 3}'::jsonb ELSE '{}' END)",
                campaigns[name], key, status, paused_from, started)
        await migrate(empty_database)
        lanes = {row["campaign_id"]: row for row in await conn.fetch(
            "SELECT * FROM campaign_fanout_lanes")}
        excluded = await conn.fetchval(QUERIES.campaign_excluded, campaigns["halfway"])
    finally:
        await conn.close()
    assert campaigns["draft"] not in lanes
    for name, done in [("halfway", False), ("paused", False), ("done", True)]:
        lane = lanes[campaigns[name]]
        assert (lane["lane"], lane["lanes"], lane["after"], lane["position"], lane["done"]) == (
            0, 1, b"\x42", 7, done)
        assert lane["below"] > b"\xff" * 32
    assert excluded == '{"no_authorization": 3}'


async def test_migrate_seals_the_terms_of_authorizations_written_before_0018(
    empty_database: str,
) -> None:
    from service.cli import _migrate
    from service.consent.terms import open_terms
    from service.core.config import Settings
    from service.core.crypto import Keyring

    conn, key = await migrated_up_to(empty_database, "0018", "sender")
    try:
        _, authorization = await legacy_authorization(
            conn, key, ("my diabetes care plan", "Riverside", "newsletters", "end of treatment"))
        keyring = Keyring.generate()
        assert await _migrate(Settings(database_url=empty_database, keyring=keyring)) == 0
        row = await conn.fetchrow("SELECT * FROM marketing_authorizations")
        assert (row["information_used"], row["used_by"], row["purpose_description"],
                row["expiry_event"], row["ends_on_event"]) == (None, None, None, None, True)
        assert open_terms(keyring, authorization, row["terms_sealed"]) == {
            "information_used": "my diabetes care plan", "used_by": "Riverside",
            "purpose": "newsletters", "expiry_event": "end of treatment"}
        # What the patient signed stays immutable; only the sealing was allowed.
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE marketing_authorizations SET signed_at = now()")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM marketing_authorizations")
        # The contact made before tenancy is the "default" organization's.
        assert await conn.fetchval(
            "SELECT o.name FROM contacts c JOIN organizations o ON o.id = c.organization_id"
        ) == "default"
    finally:
        await conn.close()
