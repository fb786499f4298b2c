"""What RETENTION_DAYS costs, and that it keeps the tables flat.

Each round fills a fresh database with messages made before the retention period and messages
made within it (bench/growth_fill.sql: the service's row sizes, each message with its events),
the old ones under version-7 ids of their own moment as the service makes them now
(``--random-ids``: version-4 ids, as before migration 0029). A copy of it is the baseline:
PostgreSQL deleting the same rows in one statement, no batches, checks or audit records. Then
``service.retention.retire`` runs on the original, as the worker's job does, and each prints
messages a second and WAL a message. Last, VACUUM, and as many new messages as went are written
again: the tables' size after that, against before retention, shows whether the space was reused.
``--kept`` leaves a share of the old messages that must stay among them (scheduled far ahead),
which the job's walk steps over and the one DELETE skips.

    python bench/retention.py [--old 200000] [--young 100000] [--rounds 3] [--random-ids]
                              [--kept 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.delivery_throughput import ADMIN_DSN, dsn_of  # noqa: E402
from bench.growth_fill import fill_messages, keyed_database  # noqa: E402
from service.core.message_status import FINAL  # noqa: E402
from service.retention import retire  # noqa: E402

DATABASE = "hipaa_mail_retention"
COPY = "hipaa_mail_retention_copy"
DAYS = 90
# The fill spreads its rows over the 30 days before the moment it is given.
OLD_END = dt.timedelta(days=DAYS + 31)
SIZE = """SELECT sum(pg_total_relation_size(t))::bigint
          FROM unnest(ARRAY['messages', 'message_events']::regclass[]) AS t"""
# Version-7 ids of each old row's own moment: the migrations' time_ordered_uuid() with its
# millisecond replaced by the row's; the events follow (triggers off: this is the fill, nothing
# is counted).
REKEY = """
CREATE TEMP TABLE rekey AS
SELECT id AS old, encode(overlay(uuid_send(time_ordered_uuid()) PLACING
           substring(int8send(floor(extract(epoch FROM created_at) * 1000)::bigint) FROM 3)
           FROM 1 FOR 6), 'hex')::uuid AS new
FROM messages WHERE created_at < $1;
SET session_replication_role = replica;
UPDATE messages m SET id = r.new FROM rekey r WHERE m.id = r.old;
UPDATE message_events e SET message_id = r.new FROM rekey r WHERE e.message_id = r.old;
SET session_replication_role = DEFAULT;
"""
BULK_DELETE = """
WITH doomed AS (SELECT id FROM messages WHERE created_at < $1 AND expires_at <= now()
                AND (sent_at IS NULL OR sent_at < $1) AND status = ANY($2::text[])),
     events AS (DELETE FROM message_events WHERE message_id IN (SELECT id FROM doomed))
DELETE FROM messages WHERE id IN (SELECT id FROM doomed)"""


@dataclass(frozen=True, slots=True)
class Run:
    messages: int
    seconds: float
    wal_bytes: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def wal_per_message(self) -> float:
        return self.wal_bytes / max(self.messages, 1)


async def _wal(db: asyncpg.Connection) -> int:
    """The WAL position just after a checkpoint, so each measured run writes the full-page
    images of the pages it touches first, as a long-running database does."""
    await db.execute("CHECKPOINT")
    lsn: int = await db.fetchval("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn")
    return lsn


async def _filled(old: int, young: int, random_ids: bool,
                  kept: float) -> tuple[str, list[object]]:
    dsn, db, keys = await keyed_database(DATABASE)
    now = await db.fetchval("SELECT now()")
    await fill_messages(db, old, keys, now - OLD_END)
    if not random_ids:
        await db.execute(REKEY.replace("$1", f"'{(now - OLD_END).isoformat()}'::timestamptz"))
    await fill_messages(db, young, keys, now)
    # Old rows that must stay (a schedule far ahead), spread among the rest: the walk steps
    # over them, the one DELETE skips them.
    await db.execute("UPDATE messages SET status = 'scheduled' WHERE created_at < $1"
                     " AND random() < $2", now - OLD_END, kept)
    await db.execute("VACUUM (ANALYZE) messages, message_events")
    await db.close()
    return dsn, keys


async def _baseline(cutoff: dt.datetime) -> Run:
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{COPY}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{COPY}" TEMPLATE "{DATABASE}"')
    await admin.close()
    db = await asyncpg.connect(dsn_of(COPY))
    wal, began = await _wal(db), time.perf_counter()
    status = await db.execute(BULK_DELETE, cutoff, list(FINAL))
    seconds = time.perf_counter() - began
    run = Run(int(status.split()[-1]), seconds, await _wal(db) - wal)
    await db.close()
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'DROP DATABASE "{COPY}" WITH (FORCE)')
    await admin.close()
    return run


async def _round(old: int, young: int, random_ids: bool,
                 kept: float) -> tuple[Run, Run, float, float]:
    dsn, keys = await _filled(old, young, random_ids, kept)
    db = await asyncpg.connect(dsn)
    cutoff = await db.fetchval("SELECT now() - make_interval(days => $1)", DAYS)
    size_before = await db.fetchval(SIZE)
    await db.close()
    baseline = await _baseline(cutoff)
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=4)
    db = await asyncpg.connect(dsn)
    wal, began = await _wal(db), time.perf_counter()
    done = await retire(pool, DAYS, time.monotonic() + 3600)
    seconds = time.perf_counter() - began
    service = Run(done.messages, seconds, await _wal(db) - wal)
    await pool.close()
    # The next period's messages, as many as went, into the space VACUUM gave back; VACUUM's
    # own WAL (index entries removed, pages freed) is part of what a deleted row costs.
    wal = await _wal(db)
    await db.execute("VACUUM messages, message_events")
    vacuum_wal = (await _wal(db) - wal) / max(done.messages, 1)
    await fill_messages(db, done.messages, keys, await db.fetchval("SELECT now()"))
    regrown = await db.fetchval(SIZE) / size_before
    await db.close()
    return service, baseline, regrown, vacuum_wal


async def main(old: int, young: int, rounds: int, random_ids: bool, kept: float) -> None:
    results = []
    for n in range(1, rounds + 1):
        service, baseline, regrown, vacuum_wal = await _round(old, young, random_ids, kept)
        results.append((service, baseline, regrown, vacuum_wal))
        print(f"round {n}: retention {service.messages:,} in {service.seconds:.1f} s "
              f"({service.rate:,.0f}/s, {service.wal_per_message / 1024:.1f} KB WAL each); "
              f"one DELETE {baseline.messages:,} in {baseline.seconds:.1f} s "
              f"({baseline.rate:,.0f}/s, {baseline.wal_per_message / 1024:.1f} KB each); "
              f"then VACUUM {vacuum_wal / 1024:.1f} KB WAL a message; "
              f"size after refilling {regrown:.2f} of before", flush=True)
    rate = statistics.median(s.rate for s, *_ in results)
    base = statistics.median(b.rate for _, b, *_ in results)
    print(f"\nmedians of {rounds}: retention {rate:,.0f} messages/s, one DELETE {base:,.0f}/s "
          f"(ratio {rate / base:.2f}); WAL a message "
          f"{statistics.median(s.wal_per_message for s, *_ in results) / 1024:.1f} KB vs "
          f"{statistics.median(b.wal_per_message for _, b, *_ in results) / 1024:.1f} KB, then "
          f"VACUUM {statistics.median(v for *_, v in results) / 1024:.1f} KB; "
          f"tables after refilling {statistics.median(g for _, _, g, _ in results):.2f} of their "
          f"size before retention")
    # 10 million messages a day go at 116 a second; the job runs 20 s of every minute.
    print(f"10M messages a day need 116/s: the job's 20 s a minute retire "
          f"{rate * 20 / 60:,.0f}/s on average")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", type=int, default=200_000)
    parser.add_argument("--young", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--random-ids", action="store_true")
    parser.add_argument("--kept", type=float, default=0.0,
                        help="share of the old messages that must stay (scheduled)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.old, arguments.young, arguments.rounds, arguments.random_ids,
                     arguments.kept))
