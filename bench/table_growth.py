"""Accept cost as the tables grow: the service against an empty database and against one of
10 million messages (bench/growth_fill.py), side by side in one run (issue 18, item 4).

Each side is the real API (``python -m service api``) on its own database, driven by
bench/accept.py's machinery: the same wrk load, connections, threads and duration, in
alternating rounds (the order flips each round), with its lost-message check. The empty side
starts each round from empty tables; the filled one keeps what it has. Each round also reads
back what the side wrote (bench/growth_wal.py): WAL bytes and full-page images per accepted
message, by relation, and how much each table and index grew. Then each side delivers part of
the backlog its rounds left, database side only (bench/growth_delivery.py), with the same WAL
figures; and EXPLAIN (ANALYZE, BUFFERS) of the accept and delivery queries on both
(bench/growth_plans.py).

    python bench/table_growth.py [--connections 32] [--threads 2] [--duration 10] [--rounds 3]
                                 [--warmup 3] [--fill] [--rows 10000000]
                                 [--database hipaa_mail_growth_10m] [--deliver 5000]
                                 [--set NAME=VALUE ...]

--fill makes the filled database first (else it must exist; bench/growth_fill.py makes it).
It is kept at the end, with the rows this run added deleted again; the empty one is dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.accept import (  # noqa: E402
    Round,
    Side,
    add_load_arguments,
    measure,
    median_line,
    run_wrk,
    service_env,
    wait_answering,
)
from bench.bare_app import execute  # noqa: E402
from bench.delivery_throughput import (  # noqa: E402
    ADMIN_DSN,
    dsn_of,
    free_port,
    fresh_database,
)
from bench.growth_delivery import deliver_backlog  # noqa: E402
from bench.growth_fill import GROWTH_DB, fill  # noqa: E402
from bench.growth_plans import Plan, explain_all  # noqa: E402
from bench.growth_wal import Written, mark, written_since  # noqa: E402
from service.access import create_api_key  # noqa: E402
from service.core.config import Settings  # noqa: E402

EMPTY_DB = "hipaa_mail_growth_empty"
# PostgreSQL flushes a backend's table counters within 10 s of it going idle.
STATS_DELAY = 11
_INSERTED = ("SELECT relname, n_tup_ins FROM pg_stat_user_tables "
             "WHERE relname IN ('messages', 'message_events', 'audit_log')")


@dataclass
class Target:
    side: Side
    dsn: str
    db: asyncpg.Connection
    key: str
    env: dict[str, str]
    rounds: list[tuple[Round, Written]]


async def filled_rows(database: str) -> int | None:
    """The filled database's message count, None when it is missing or its fill unfinished."""
    admin = await asyncpg.connect(ADMIN_DSN)
    exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
    await admin.close()
    if not exists:
        return None
    db = await asyncpg.connect(dsn_of(database))
    rows = await db.fetchval("SELECT rows FROM growth_fill") if await db.fetchval(
        "SELECT to_regclass('growth_fill') IS NOT NULL") else None
    await db.close()
    return rows


async def start(name: str, dsn: str, database: str, redis_url: str, workdir: Path,
                settings: list[str]) -> Target:
    db = await asyncpg.connect(dsn)
    await db.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
    # For the API's sessions, which start after this; the filled database's are reset at the end.
    for setting in settings:
        option, _, value = setting.partition("=")
        await db.execute(f'ALTER DATABASE "{database}" SET {option} = {value}')
    # A new master key each run: the index key an earlier run sealed cannot be opened with
    # it, so it goes, and the API makes another (the filled rows' indexes are random anyway).
    await db.execute("DELETE FROM data_keys")
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    key = await create_api_key(pool, "sender", "bench")
    await pool.close()
    env = service_env(dsn, redis_url, workdir)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "service", "api", "--port", str(port)],
                               env=env, cwd=workdir)
    side = Side(name, f"http://127.0.0.1:{port}", process, "messages", database)
    await wait_answering(side.url + "/readyz", process, 200)
    return Target(side, dsn, db, key, env, [])


def per_message(written: Written, accepted: int) -> str:
    n = max(accepted, 1)
    if written.wal_bytes is None:
        return "  WAL: recycled before it could be read (left out of the medians)"
    images = ", ".join(f"{name} {count / n:.2f}" for name, count in written.images.items()
                       if count / n >= 0.005)
    return (f"  WAL {written.wal_bytes / n:6.0f} B/msg (full-page images "
            f"{written.fpi_bytes / n:5.0f} B; cluster-wide {written.cluster_wal_bytes / n:6.0f} B),"
            f" last checkpoint {written.checkpoint_age:4.0f} s before the round; "
            f"full-page images/msg: {images or 'none'}")


async def run_round(target: Target, args: argparse.Namespace, workdir: Path,
                    label: str) -> None:
    if target.side.database == EMPTY_DB:
        await target.db.execute("TRUNCATE messages CASCADE")
    before = await mark(target.db)
    figures = await measure(target.db, target.side, args, target.key, workdir, label)
    written = await written_since(target.db, before)
    print(per_message(written, figures.accepted), flush=True)
    target.rounds.append((figures, written))


async def deliver_round(target: Target, messages: int) -> None:
    before = await mark(target.db)
    delivered, seconds = await deliver_backlog(target.dsn, messages)
    written = await written_since(target.db, before)
    print(f"deliver, database side ({target.side.name}): {delivered} messages, "
          f"{seconds / max(delivered, 1) * 1e6:.0f} us a message\n"
          + per_message(written, delivered), flush=True)


def report(args: argparse.Namespace, empty: Target, full: Target, rows: int) -> None:
    print(f"\n{args.connections} connections, {args.threads} wrk threads, {args.duration} s a "
          f"side, {args.rounds} rounds, empty vs {rows:,} messages (medians)"
          + (f", with {', '.join(args.set)}" if args.set else ""))
    for target in (empty, full):
        rounds = [r for r, _ in target.rounds]
        print(median_line(target.side.name, rounds))
        written = [(w, r.accepted) for r, w in target.rounds]
        med = statistics.median
        read = [(w.wal_bytes, w.fpi_bytes, n) for w, n in written if w.wal_bytes is not None]
        if read:
            print(f"  {'':<11} WAL {med(b / n for b, _, n in read):6.0f} B/msg, full-page "
                  f"images {med(f / n for _, f, n in read):6.0f} B/msg ({len(read)} rounds)")
        growth: dict[str, list[float]] = {}
        for w, n in written:
            for name, size in w.growth.items():
                growth.setdefault(name, []).append(size / n)
        print(f"  {'':<11} bytes/msg grown: " + ", ".join(
            f"{name} {med(sizes + [0.0] * (len(written) - len(sizes))):.0f}"
            for name, sizes in sorted(growth.items())))
    ratio = statistics.median(f.rate / e.rate for (f, _), (e, _)
                              in zip(full.rounds, empty.rounds, strict=True))
    p99 = statistics.median(f.p99_ms / e.p99_ms for (f, _), (e, _)
                            in zip(full.rounds, empty.rounds, strict=True))
    print(f"  accept rate {rows:,} / empty, paired by round: {ratio:.2f} (target >= 0.95); "
          f"p99 ratio {p99:.2f}")


def print_plans(empty: list[Plan], full: list[Plan], rows: int) -> None:
    print(f"\nEXPLAIN (ANALYZE, BUFFERS): median ms, buffers hit/read/dirtied (last run); "
          f"empty vs {rows:,}")
    for e, f in zip(empty, full, strict=True):
        flag = f"  SEQ SCAN of {', '.join(f.seq_scans)}" if f.seq_scans else ""
        print(f"  {e.name:<38} {e.ms:8.2f} ms {e.hit:>5}/{e.read}/{e.dirtied:<5} | "
              f"{f.ms:9.2f} ms {f.hit:>6}/{f.read}/{f.dirtied:<5}{flag}\n  {'':<40}{f.shape}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_load_arguments(parser)
    parser.add_argument("--fill", action="store_true", help="fill the 10M database first")
    parser.add_argument("--rows", type=int, default=10_000_000, help="with --fill")
    parser.add_argument("--database", default=GROWTH_DB, help="the filled database")
    parser.add_argument("--deliver", type=int, default=5000,
                        help="messages of the backlog to deliver (database side) after the rounds")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a PostgreSQL setting for both sides' sessions, e.g. "
                             "wal_compression=lz4 (repeatable)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    if args.fill:
        await fill(args.rows, args.database)
    rows = await filled_rows(args.database)
    if rows is None:
        raise SystemExit(f"no filled database {args.database}: run with --fill")

    workdir = Path(tempfile.mkdtemp(prefix="hipaa-bench-growth-"))
    redis_port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    targets: list[Target] = []
    try:
        redis_url = f"redis://127.0.0.1:{redis_port}"
        empty_dsn = await fresh_database(EMPTY_DB)
        targets.append(await start("empty", empty_dsn, EMPTY_DB, redis_url + "/0", workdir,
                                   args.set))
        targets.append(await start(f"{rows:,} rows", dsn_of(args.database), args.database,
                                   redis_url + "/1", workdir, args.set))
        empty, full = targets
        inserted_before = dict(await full.db.fetch(_INSERTED))
        warm = len(run_wrk(full.side, args, full.key, args.warmup, workdir)[1])
        run_wrk(empty.side, args, empty.key, args.warmup, workdir)
        for number in range(1, args.rounds + 1):
            for target in (targets if number % 2 else targets[::-1]):
                await run_round(target, args, workdir, f"round {number}")
            ratio = full.rounds[-1][0].rate / empty.rounds[-1][0].rate
            print(f"round {number} ratio {full.side.name}/empty {ratio:.2f}", flush=True)
        report(args, empty, full, rows)
        await asyncio.sleep(STATS_DELAY)
        accepted = warm + sum(r.accepted for r, _ in full.rounds)
        inserted = {name: n - inserted_before.get(name, 0)
                    for name, n in await full.db.fetch(_INSERTED)}
        print(f"  rows written per accepted message ({full.side.name}): " + ", ".join(
            f"{name} {n / accepted:.2f}" for name, n in sorted(inserted.items())))
        for target in targets:
            await deliver_round(target, args.deliver)
        print_plans(await explain_all(empty.dsn, Settings.from_env(empty.env)),
                    await explain_all(full.dsn, Settings.from_env(full.env)), rows)
    finally:
        for target in targets:
            target.side.process.terminate()
            target.side.process.wait(timeout=30)
        redis.terminate()
        redis.wait(timeout=30)
        if len(targets) == 2:
            await forget_run(targets[1].db)
            await targets[1].db.execute(f'ALTER DATABASE "{args.database}" RESET ALL')
        for target in targets:
            await target.db.close()
        shutil.rmtree(workdir, ignore_errors=True)
        await execute(ADMIN_DSN, f'DROP DATABASE IF EXISTS "{EMPTY_DB}" WITH (FORCE)')


async def forget_run(db: asyncpg.Connection) -> None:
    """The filled database back to its fill: this run's messages go (the fill's are older)."""
    filled_at = await db.fetchval("SELECT filled_at FROM growth_fill")
    await db.execute("DELETE FROM message_events WHERE message_id IN "
                     "(SELECT id FROM messages WHERE created_at > $1)", filled_at)
    await db.execute("DELETE FROM messages WHERE created_at > $1", filled_at)
    await db.execute("VACUUM (ANALYZE) messages, message_events")


if __name__ == "__main__":
    asyncio.run(main())
