"""Statements whose plan a connection keeps stay lookups by index however the tables grow.

asyncpg prepares every statement, and PostgreSQL settles on one generic plan for it once that
looks no dearer than planning anew, made for the tables as they are then. A join in such a plan,
made while a table was small, went on scanning the whole table as it grew, until an ANALYZE
(which this machine's PostgreSQL, with autovacuum off, never runs). Each test makes the plan on
(nearly) empty tables that no ANALYZE has seen, adds thousands of rows, then runs the kept plan
under ``EXPLAIN ANALYZE``. What they do not cover: a table ANALYZEd while it fit in a page or
two, for which PostgreSQL may still plan a scan (now per row looked up) until its next ANALYZE."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
from starlette.applications import Starlette

from service import consent
from service.db.queries import QUERIES
from tests.helpers import REMINDER, api_key_id, plan_nodes, send

GROWN = 5000


async def _kept_plan_after(db: asyncpg.Pool, query: str, arguments: str,
                           grow: Callable[[], Awaitable[object]]) -> list[dict[str, Any]]:
    """The nodes that read a table in the plan a connection keeps for ``query``, made now and
    run after ``grow``. ``arguments``: the statement's arguments, as SQL."""
    async with db.acquire() as conn:
        try:
            await conn.execute("SET plan_cache_mode = force_generic_plan")
            await conn.execute("PREPARE kept AS " + query.rstrip().rstrip(";"))
            await conn.execute(f"EXECUTE kept({arguments})")
            await grow()
            (plan,) = json.loads(await conn.fetchval(
                f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE kept({arguments})"))
            await conn.execute("DEALLOCATE kept; RESET plan_cache_mode")
        except BaseException:
            # The pool does not reset what a session set: a connection left half-way goes.
            conn.terminate()
            raise
    return [node for node in plan_nodes(plan["Plan"]) if "Relation Name" in node]


def _rows_read(reads: list[dict[str, Any]], table: str) -> int:
    """Rows the plan's scans of ``table`` returned, after refusing any sequential scan."""
    scans = [node for node in reads if node["Relation Name"] == table]
    assert scans, f"the plan does not read {table}"
    assert all(node["Node Type"] != "Seq Scan" for node in scans), (table, scans)
    return sum(node["Actual Rows"] * node["Actual Loops"] for node in scans)


async def _sent(client: httpx.AsyncClient, key: str) -> uuid.UUID:
    return uuid.UUID((await send(client, key, REMINDER)).json()["id"])


async def _copies_of_message(db: asyncpg.Pool, message_id: uuid.UUID) -> list[uuid.UUID]:
    """``GROWN`` more messages copied from one, each with its own id, idempotency key and link
    hash (copy n's token hash is md5(n)); their ids, oldest first."""
    rows = await db.fetch(
        "INSERT INTO messages SELECT r.* FROM messages m, generate_series(1, $2) g,"
        " LATERAL jsonb_populate_record(m, jsonb_build_object("
        " 'id', time_ordered_uuid(), 'idempotency_key', 'copy-' || g,"
        " 'token_hash', '\\x' || md5(g::text), 'unsubscribe_hash', NULL)) r"
        " WHERE m.id = $1 RETURNING id",
        message_id, GROWN)
    return sorted(row["id"] for row in rows)


async def test_acceptance_reads_each_address_by_index_however_the_tables_grew(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    """Group commit's recipient read: each address reads at most its one message, through the
    idempotency index, instead of the whole table at every batch; contacts, suppressions and
    the ledger are read by index too."""
    db = app.state.resources.db
    key_id = await api_key_id(db)
    addresses = 8
    arguments = ", ".join([
        "ARRAY[" + ", ".join(f"'\\x{n:02x}'::bytea" for n in range(addresses)) + "]",
        f"array_fill('{key_id}'::uuid, ARRAY[{addresses}])",
        "ARRAY[" + ", ".join(f"'absent-{n}'" for n in range(addresses)) + "]",
    ])

    async def grow() -> None:
        await _copies_of_message(db, await _sent(client, keys["sender"]))

    reads = await _kept_plan_after(db, QUERIES.recipient_states, arguments, grow)
    assert _rows_read(reads, "messages") <= addresses
    tables = {node["Relation Name"] for node in reads}
    assert tables >= {"contacts", "suppressions", "consent_events"}
    for table in tables:
        _rows_read(reads, table)


async def test_a_connection_plans_the_recipient_read_once_not_at_every_batch(
    app: Starlette, keys: dict[str, str],
) -> None:
    """Batches of every size through one connection: after PostgreSQL's first few custom plans,
    it runs one generic plan, so a batch does not pay for planning (0.5 ms, more than the read)."""
    key_id = await api_key_id(app.state.resources.db)
    async with app.state.resources.db.acquire() as conn:
        for size in (1, 7, 2, 30, 3, 12, 1, 64, 5, 9):
            await consent.recipient_state_rows(
                conn, [(uuid.uuid4().bytes, key_id, f"k{n}") for n in range(size)])
        generic, custom = await conn.fetchrow(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement = $1", QUERIES.recipient_states)
    assert generic >= 5 and custom <= 5, (generic, custom)


async def test_the_audit_batch_reads_only_the_queued_messages_however_the_table_grew(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    """With the newest three of 5,000 new messages queued for their audit records, the batch
    reads those three by key, not the whole table in key order looking for them."""
    db = app.state.resources.db
    queued = 3

    async def grow() -> None:
        ids = await _copies_of_message(db, await _sent(client, keys["sender"]))
        await db.execute("INSERT INTO delivery_audit_queue SELECT unnest($1::uuid[])",
                         ids[-queued:])

    reads = await _kept_plan_after(db, QUERIES.pending_delivery_audits, "100", grow)
    assert _rows_read(reads, "messages") == queued


async def test_a_portal_link_reads_its_one_message_however_the_table_grew(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    db = app.state.resources.db

    async def grow() -> None:
        await _copies_of_message(db, await _sent(client, keys["sender"]))

    # Copy 2,500's token hash, and no campaign message's id.
    reads = await _kept_plan_after(db, QUERIES.portal_message,
                                   "decode(md5('2500'), 'hex'), NULL", grow)
    assert _rows_read(reads, "messages") == 1


async def test_an_unsubscribe_link_reads_its_one_message_however_the_tables_grew(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    db = app.state.resources.db
    message_id = await _sent(client, keys["sender"])
    unsubscribe_hash = b"\x01" * 32

    async def grow() -> None:
        await _copies_of_message(db, message_id)
        await db.execute("UPDATE messages SET unsubscribe_hash = $2 WHERE id = $1",
                         message_id, unsubscribe_hash)

    reads = await _kept_plan_after(db, QUERIES.unsubscribe_target,
                                   f"'\\x{unsubscribe_hash.hex()}'::bytea, NULL", grow)
    assert _rows_read(reads, "messages") == 1
    _rows_read(reads, "contacts")


async def test_the_send_time_consent_check_reads_its_contacts_by_index_however_many_came(
    app: Starlette, keys: dict[str, str],
) -> None:
    """The worker's consent check of a claimed batch, planned before an upload brought 5,000
    contacts with a ledger event each: it reads the three contacts asked for and their three
    events, not every contact."""
    db = app.state.resources.db
    key_id = await api_key_id(db)

    async def grow() -> None:
        await db.execute(
            "WITH c AS (INSERT INTO contacts (id, email_index, email_sealed, created_by,"
            " organization_id)"
            " SELECT gen_random_uuid(), decode(md5(g::text), 'hex'), '\\x00', k.id,"
            " k.organization_id FROM api_keys k, generate_series(1, $2) g WHERE k.id = $1"
            " RETURNING id)"
            " INSERT INTO consent_events (contact_id, purpose, action, source, actor)"
            " SELECT id, 'treatment', 'grant', 'api', 'test' FROM c", key_id, GROWN)

    wanted = ", ".join(f"decode(md5('{n}'), 'hex')" for n in (10, 2000, 4990))
    reads = await _kept_plan_after(db, QUERIES.consent_ledgers, f"ARRAY[{wanted}]", grow)
    assert _rows_read(reads, "contacts") == 3
    assert _rows_read(reads, "consent_events") == 3
