"""Accept rate of ``POST /v1/messages`` against a bare Starlette + asyncpg INSERT, in one run.

Both sides run in processes of their own against the same PostgreSQL (a bench database) and
are driven by the same wrk load (bench/accept.lua: a reminder per request, each with its own
recipient and Idempotency-Key), with the same connections, threads and duration, in alternating
rounds so that the machine's drift hits both. After every round each id answered with a 202 is
looked up in PostgreSQL: a benchmark that loses messages is wrong, and it stops.

    python bench/accept.py [--connections 32] [--threads 2] [--duration 10] [--rounds 3]
                           [--workers N] [--while-delivering]

--workers N: both the API (``python -m service api --workers N``) and the bare app run N
processes. --while-delivering adds a third side each round: the service
again, with ``python -m service worker`` delivering what it accepts to a STARTTLS sink
(bench/relay_sink.py). CPU per message is the server's process tree's user+system time over the
round divided by its 202s (and PostgreSQL's backends' for the bench database, likewise); wrk's
own CPU is printed so one can see it is not the bottleneck, and the machine's busy cores
(/proc/stat) so one can see whether the machine or one process is.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from redis import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import bare_app, wrk_load  # noqa: E402
from bench.delivery_throughput import (  # noqa: E402
    ADMIN_DSN,
    cpu_seconds,
    database_cpu_seconds,
    database_cpu_spent,
    free_port,
    fresh_database,
    machine_busy_seconds,
    relay_sink,
)
from service.access import create_api_key  # noqa: E402
from service.devtools.certs import make_test_pki  # noqa: E402

# A database of this run's own, dropped at its end: other benches, and other runs of this one,
# may run meanwhile.
BENCH_DB = f"hipaa_mail_bench_accept_{os.getpid()}"


@dataclass
class Side:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    table: str  # the rows its 202s promise
    database: str = BENCH_DB  # whose PostgreSQL backends' CPU counts as its own


@dataclass
class Round:
    rate: float  # 202s per second
    p50_ms: float
    p99_ms: float
    cpu_us: float  # server CPU per 202
    db_cpu_us: float  # PostgreSQL's backends' (for this database), likewise
    wrk_cpu: float  # wrk's CPU seconds per wall second (1.0: one core)
    server_cpu: float  # the server's, likewise
    machine_cores: float  # the whole machine's busy CPU, likewise (the worker and relay too)
    accepted: int  # 202s


def tree_cpu_seconds(pid: int) -> float:
    """User+system seconds of a process and its living descendants (uvicorn's workers)."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            total += cpu_seconds(current)
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:  # exited meanwhile
            continue
    return total


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def service_env(dsn: str, redis_url: str, workdir: Path) -> dict[str, str]:
    """The environment of the bench's API (and worker) processes."""
    return {
        **os.environ,
        "DATABASE_URL": dsn,
        "REDIS_URL": redis_url,
        "QUEUE_NAME": "bench-accept",
        "MASTER_KEYS": "b1:" + base64.b64encode(os.urandom(32)).decode(),
        "MAIL_FROM": "no-reply@clinic.test",
        "RATE_LIMIT_SENDER": "0",  # wrk posts far beyond a key's default limit
        "LOG_LEVEL": "WARNING",
        "WORKER_HEARTBEAT_FILE": str(workdir / "worker.heartbeat"),
    }


async def wait_answering(url: str, process: subprocess.Popen[bytes], ready: int | None) -> None:
    """Until ``url`` answers (with ``ready`` as its status, when given)."""
    async with httpx.AsyncClient() as probe:
        for _ in range(300):
            if process.poll() is not None:
                raise SystemExit(f"{process.args!r} exited with {process.returncode}")
            try:
                status = (await probe.get(url)).status_code
                if ready is None or status == ready:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not answer in 30 s")


def run_wrk(side: Side, args: argparse.Namespace, key: str, seconds: int,
            workdir: Path) -> tuple[dict[str, Any], list[str], float, float]:
    """wrk's result line, the ids it got 202s for, the server's and wrk's CPU seconds."""
    server_before, wrk_before = tree_cpu_seconds(side.process.pid), children_cpu_seconds()
    result, ids = wrk_load.post_for(side.url, key, seconds, args.connections, args.threads,
                                    workdir)
    server_cpu = tree_cpu_seconds(side.process.pid) - server_before
    wrk_cpu = children_cpu_seconds() - wrk_before
    return result, ids, server_cpu, wrk_cpu


async def check_rows(db: asyncpg.Connection, side: Side, ids: list[str]) -> int:
    """Every id answered with a 202 has its row; returns the table's row count."""
    # side.table is one of this file's constants.
    found = await db.fetchval(
        f"SELECT count(*) FROM {side.table} WHERE id = ANY($1::uuid[])", ids)  # noqa: S608
    if len(set(ids)) != len(ids) or found != len(ids):
        raise SystemExit(f"{side.name}: {len(ids)} answers 202 ({len(set(ids))} distinct ids), "
                         f"only {found} of them in PostgreSQL: messages lost")
    return int(await db.fetchval(f"SELECT count(*) FROM {side.table}"))  # noqa: S608


async def measure(db: asyncpg.Connection, side: Side, args: argparse.Namespace, key: str,
                  workdir: Path, label: str) -> Round:
    db_before, busy_before = await database_cpu_seconds(db, side.database), machine_busy_seconds()
    result, ids, server_cpu, wrk_cpu = run_wrk(side, args, key, args.duration, workdir)
    busy = machine_busy_seconds() - busy_before
    # A backend that came up during the round did all its work in it.
    db_cpu = database_cpu_spent(db_before, await database_cpu_seconds(db, side.database))
    rows = await check_rows(db, side, ids)
    seconds = result["duration_us"] / 1e6
    statuses = result["statuses"]
    others = {s: n for s, n in statuses.items() if s != "202"}
    errors = {k: n for k, n in result["errors"].items() if n}
    figures = Round(
        rate=len(ids) / seconds, p50_ms=result["p50_us"] / 1000, p99_ms=result["p99_us"] / 1000,
        cpu_us=server_cpu / max(len(ids), 1) * 1e6, db_cpu_us=db_cpu / max(len(ids), 1) * 1e6,
        wrk_cpu=wrk_cpu / seconds,
        server_cpu=server_cpu / seconds, machine_cores=busy / seconds, accepted=len(ids))
    print(f"{label} {side.name:<11} {figures.rate:7.0f} req/s  p50 {figures.p50_ms:6.1f} ms  "
          f"p99 {figures.p99_ms:6.1f} ms  CPU/msg: server {figures.cpu_us:4.0f} us "
          f"({figures.server_cpu:.2f} cores), PostgreSQL {figures.db_cpu_us:4.0f} us  "
          f"wrk {figures.wrk_cpu:.2f} cores  machine {figures.machine_cores:.2f} cores busy  "
          f"202s {len(ids)}, all in PostgreSQL ({rows} rows)"
          + (f"  OTHER ANSWERS {others}" if others else "")
          + (f"  SOCKET ERRORS {errors}" if errors else ""), flush=True)
    return figures


def median_line(name: str, rounds: list[Round]) -> str:
    def med(attribute: str) -> float:
        return float(statistics.median(getattr(r, attribute) for r in rounds))

    return (f"  {name:<11} {med('rate'):7.0f} req/s  p50 {med('p50_ms'):6.1f} ms  "
            f"p99 {med('p99_ms'):6.1f} ms  CPU/msg: server {med('cpu_us'):4.0f} us, "
            f"PostgreSQL {med('db_cpu_us'):4.0f} us  wrk {med('wrk_cpu'):.2f} cores  "
            f"machine {med('machine_cores'):.2f} cores busy")


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """The wrk load's options, which ``run_wrk`` and ``measure`` read."""
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--duration", type=int, default=10, help="seconds per side per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3, help="seconds per side, not counted")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_load_arguments(parser)
    parser.add_argument("--workers", type=int, help="server processes per side")
    parser.add_argument("--while-delivering", action="store_true")
    args = parser.parse_args()
    wrk_load.require()

    workdir = Path(tempfile.mkdtemp(prefix="hipaa-bench-accept-"))
    processes: list[subprocess.Popen[bytes]] = []

    def start(*command: str, env: dict[str, str] | None = None, cwd: Path = workdir,
              quiet: bool = False) -> subprocess.Popen[bytes]:
        output = subprocess.DEVNULL if quiet else None
        processes.append(subprocess.Popen(list(command), env=env, cwd=cwd, stdout=output))
        return processes[-1]

    stack = contextlib.ExitStack()
    try:
        # A Redis of its own: arq's job ids are not per queue, so a shared one would let
        # another run's API take this one's nudges.
        redis_port = free_port()
        start("redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
              "--appendonly", "no", quiet=True)
        redis = Redis(port=redis_port)
        dsn = await fresh_database(BENCH_DB)
        await bare_app.execute(dsn, bare_app.SCHEMA)
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
        assert pool is not None
        key = await create_api_key(pool, "sender", "bench")
        await pool.close()
        smtp_port, api_port, bare_port = free_port(), free_port(), free_port()
        env = service_env(dsn, f"redis://127.0.0.1:{redis_port}/0", workdir)
        workers = ["--workers", str(args.workers)] if (args.workers or 1) > 1 else []
        api = start(sys.executable, "-m", "service", "api", "--port", str(api_port), *workers,
                    env=env)
        bare = start(sys.executable, "-m", "bench.bare_app", "--dsn", dsn, "--port",
                     str(bare_port), "--workers", str(args.workers or 1), cwd=ROOT)
        await wait_answering(f"http://127.0.0.1:{api_port}/readyz", api, 200)
        await wait_answering(f"http://127.0.0.1:{bare_port}/", bare, None)
        service = Side("service", f"http://127.0.0.1:{api_port}", api, "messages")
        baseline = Side("bare", f"http://127.0.0.1:{bare_port}", bare, bare_app.TABLE)
        delivering = Side("delivering", service.url, api, "messages")
        if args.while_delivering:
            certs = make_test_pki(workdir / "pki")
            stack.enter_context(relay_sink(smtp_port, workdir / "pki"))
            env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port), SMTP_TLS="starttls",
                       SMTP_CA_FILE=str(certs.ca_cert))
        sides = [service, *([delivering] if args.while_delivering else []), baseline]

        db = await asyncpg.connect(dsn)
        for side in (service, baseline):
            run_wrk(side, args, key, args.warmup, workdir)
        results: dict[str, list[Round]] = {side.name: [] for side in sides}
        for number in range(1, args.rounds + 1):
            for side in sides:
                # Each round from an empty table (and queue), whatever the last one left.
                await db.execute(f"TRUNCATE {side.table} CASCADE")
                if side is delivering:
                    redis.flushall()  # the nudges of the rounds without a worker
                    worker = await start_worker(env, workdir)
                try:
                    results[side.name].append(
                        await measure(db, side, args, key, workdir, f"round {number}"))
                finally:
                    if side is delivering:
                        await stop_worker(worker, db)
            ratio = results["service"][-1].rate / results["bare"][-1].rate
            print(f"round {number} ratio service/bare {ratio:.2f}", flush=True)
        await db.close()
        redis.close()
        report(args, results)
    finally:
        stack.close()
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            process.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
        await bare_app.execute(ADMIN_DSN, f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')


async def start_worker(env: dict[str, str], workdir: Path) -> subprocess.Popen[bytes]:
    """A worker that has begun beating (so it is up) before the round's load starts."""
    beat = Path(env["WORKER_HEARTBEAT_FILE"])
    beat.unlink(missing_ok=True)  # noqa: ASYNC240 - nothing else runs meanwhile
    worker = subprocess.Popen([sys.executable, "-m", "service", "worker"], env=env, cwd=workdir)
    for _ in range(300):
        if beat.exists() or worker.poll() is not None:  # noqa: ASYNC240
            break
        await asyncio.sleep(0.1)
    if worker.poll() is not None or not beat.exists():  # noqa: ASYNC240
        worker.kill()
        raise SystemExit("the worker did not start")
    return worker


async def stop_worker(worker: subprocess.Popen[bytes], db: asyncpg.Connection) -> None:
    sent = await db.fetchval("SELECT count(*) FROM messages WHERE status = 'sent'")
    worker.terminate()
    worker.wait(timeout=60)
    print(f"  the worker delivered {sent} meanwhile", flush=True)


def report(args: argparse.Namespace, results: dict[str, list[Round]]) -> None:
    processes = f"{args.workers or 1} process(es) a side"
    # What uvicorn's "auto" picks, for both sides alike.
    stack = (("uvloop" if find_spec("uvloop") else "asyncio") + "+"
             + ("httptools" if find_spec("httptools") else "h11"))
    print(f"\n{args.connections} connections, {args.threads} wrk threads, {args.duration} s a "
          f"side, {args.rounds} rounds, {processes}, uvicorn on {stack}, {os.cpu_count()} cores "
          "(medians)")
    for name, rounds in results.items():
        print(median_line(name, rounds))
    rate = {name: statistics.median(r.rate for r in rounds) for name, rounds in results.items()}
    # The ratio of each round's pair, then their median: drift between rounds cancels out.
    paired = statistics.median(
        s.rate / b.rate for s, b in zip(results["service"], results["bare"], strict=True))
    print(f"  ratio service/bare: {paired:.2f} (of medians {rate['service'] / rate['bare']:.2f})")
    if "delivering" in results:
        alone = statistics.median(
            d.rate / s.rate
            for d, s in zip(results["delivering"], results["service"], strict=True))
        print(f"  ratio accept while delivering / accept alone: {alone:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
