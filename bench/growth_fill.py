"""The 10-million-message database of bench/table_growth.py: a month of single messages with
their events and their deliveries' audit records, filled set-based (bench/growth_fill.sql).

The filled tables' indexes and keys are dropped for the fill and built again from their own
definitions afterwards. An index whose keys arrive in random order (uuid4 ids, token hashes,
event rows by message id, audit hashes) is built 70% full and its fill factor then reset: that
is how full random inserts leave a B-tree (about ln 2), so the filled index is as large, and
takes as much cache, as one the service would have grown; built at the default 90% it would
flatter the measurement. The audit records are chained as the worker chains them
(``service.audit.chain_hash`` from the head the database already has), so ``verify-audit``
passes.

    python bench/growth_fill.py [--rows 10000000] [--database hipaa_mail_growth_10m]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import time
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.delivery_throughput import fresh_database  # noqa: E402
from service.access import create_api_key  # noqa: E402
from service.audit import GENESIS, chain_hash  # noqa: E402
from service.db.queries import named_queries  # noqa: E402
from service.delivery.smtp import TransportEvidence  # noqa: E402

GROWTH_DB = "hipaa_mail_growth_10m"
TABLES = ["messages", "message_events", "audit_log"]
# Indexes whose keys the service writes in random order (see the module's docstring).
RANDOM_KEYED = {"messages_pkey", "messages_token_hash", "messages_idempotency",
                "message_events_message", "audit_log_hash_key"}
RANDOM_FILL = 70
SENDER_KEYS = 20  # the clinics' EHR integrations
CHUNK = 500_000
# What bench/table_growth.py reads back: the fill's size and when it ended.
METADATA = """CREATE TABLE growth_fill (rows bigint NOT NULL, filled_at timestamptz NOT NULL,
                                        seconds float8 NOT NULL)"""
_EVIDENCE = TransportEvidence("TLSv1.3", "TLS_AES_256_GCM_SHA384", "ab" * 32,
                              "relay.clinic.example").audit_detail()


SQL = named_queries((ROOT / "bench/growth_fill.sql").read_text())


async def fill_messages(db: asyncpg.Connection, rows: int, keys: list[object],
                         now: dt.datetime) -> None:
    pad = os.urandom(1024)
    for start in range(1, rows + 1, CHUNK):
        end = min(start + CHUNK - 1, rows)
        began = time.perf_counter()
        await db.execute(SQL.fill_messages, start, end, rows, keys, pad, now)
        print(f"  messages {end:>10,} ({time.perf_counter() - began:.0f} s a chunk)",
              flush=True)


async def _fill_audit(dsn: str) -> int:
    """One message.deliver record a delivered message, chained from the log's head."""
    reader, writer = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    prev = await writer.fetchval("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1") or GENESIS
    written = 0
    async with reader.transaction():
        cursor = await reader.cursor(SQL.delivered)
        while batch := await cursor.fetch(50_000):
            records = []
            for message_id, at in batch:
                digest = chain_hash(prev, at.isoformat(), "worker", "message.deliver", "message",
                                    str(message_id), "sent", _EVIDENCE)
                records.append((at, "worker", "message.deliver", "message", str(message_id),
                                "sent", _EVIDENCE, prev, digest))
                prev = digest
            await writer.copy_records_to_table(
                "audit_log", records=records,
                columns=["at", "actor", "action", "object_type", "object_id", "outcome",
                         "detail", "prev_hash", "hash"])
            written += len(records)
    await reader.close()
    await writer.close()
    return written


async def _rebuild(db: asyncpg.Connection, definitions: list[asyncpg.Record]) -> None:
    await db.execute("SET maintenance_work_mem = '1GB'")
    for d in sorted(definitions, key=lambda d: d["kind"] == "f"):
        began = time.perf_counter()
        fill = f" WITH (fillfactor = {RANDOM_FILL})" if d["name"] in RANDOM_KEYED else ""
        if d["kind"] == "i":
            sql = d["index_sql"]
            # A partial index's WITH goes before its WHERE.
            head, where, tail = sql.partition(" WHERE ")
            await db.execute(head + fill + where + tail)
        else:
            await db.execute(f'ALTER TABLE {d["table_name"]} ADD CONSTRAINT "{d["name"]}" '
                             f'{d["definition"]}{fill}')
        if fill:
            await db.execute(f'ALTER INDEX "{d["name"]}" RESET (fillfactor)')
        print(f"  built {d['name']} ({time.perf_counter() - began:.0f} s)", flush=True)


async def keyed_database(database: str) -> tuple[str, asyncpg.Connection, list[object]]:
    """A new database with the clinics' sender keys: its DSN, a connection, the keys' ids."""
    dsn = await fresh_database(database)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    for n in range(SENDER_KEYS):
        await create_api_key(pool, "sender", f"ehr-{n}")
    await pool.close()
    db = await asyncpg.connect(dsn)
    keys = [r["id"] for r in await db.fetch("SELECT id FROM api_keys ORDER BY created_at")]
    return dsn, db, keys


async def fill(rows: int, database: str = GROWTH_DB) -> str:
    """A new database ``database`` (an old one of that name is dropped) with ``rows`` messages;
    returns its DSN."""
    began = time.perf_counter()
    dsn, db, keys = await keyed_database(database)
    definitions = await db.fetch(SQL.index_definitions, TABLES)
    for d in sorted(definitions, key=lambda d: d["kind"] != "f"):
        if d["kind"] == "i":
            await db.execute(f'DROP INDEX "{d["name"]}"')
        else:
            await db.execute(f'ALTER TABLE {d["table_name"]} DROP CONSTRAINT "{d["name"]}"')
    now = await db.fetchval("SELECT now()")
    await fill_messages(db, rows, keys, now)
    print(f"  audit records {await _fill_audit(dsn):,}", flush=True)
    await _rebuild(db, definitions)
    await db.execute(f"VACUUM (ANALYZE) {', '.join(TABLES)}")
    seconds = time.perf_counter() - began
    await db.execute(METADATA)
    await db.execute("INSERT INTO growth_fill VALUES ($1, now(), $2)", rows, seconds)
    await db.close()
    print(f"filled {database}: {rows:,} messages in {seconds:.0f} s", flush=True)
    return dsn


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--database", default=GROWTH_DB)
    arguments = parser.parse_args()
    asyncio.run(fill(arguments.rows, arguments.database))
