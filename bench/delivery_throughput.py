"""End-to-end reminders per second against the bare aiosmtplib ceiling, in one run.

Both sides push N messages over the same number of TLS connections to the same STARTTLS relay:
a private Postfix instance (``postfix_relay.py``; it queues each message, then discards it) when
Debian's postfix is installed, else, or with ``--relay sink``, an aiosmtpd sink in its own
process. The service side is measured from the first API request (wrk, 16 connections: at
least N reminders, see bench/wrk_load.py) to the last relay 250 (seen as the last row leaving
the in-flight statuses), with the real API and worker processes; then again with the worker
paused while the API accepts, timed from its resumption (delivery alone: the worker's own rate,
which the API's accept rate does not cap). Each run also reports the machine's busy CPU per
message, whoever spent it, and its own share: the raw client's, the worker's, PostgreSQL's.

    python bench/delivery_throughput.py [--messages 3000] [--connections 4] [--rounds 3]
                                        [--relay postfix|sink]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiosmtplib
import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import postfix_relay, wrk_load  # noqa: E402
from service.access import create_api_key  # noqa: E402
from service.core.config import Settings  # noqa: E402
from service.db.migrations import migrate  # noqa: E402
from service.delivery.compose import Composer  # noqa: E402
from service.delivery.sender import composer_for  # noqa: E402
from service.delivery.smtp import tls_context  # noqa: E402
from service.devtools.certs import CertFiles, make_test_pki  # noqa: E402

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
_EMPTY = "TRUNCATE messages, message_events, inbound_reports, audit_log"
# Longer than a delivery run takes to audit its last sends and end.
QUIET_SECONDS = 1.5
# Anything still to send? Each half is one of the messages table's partial indexes (their
# predicates word for word: messages_due, messages_leased).
_IN_FLIGHT = ("SELECT EXISTS (SELECT 1 FROM messages"
              " WHERE status IN ('scheduled', 'queued', 'retrying'))"
              " OR EXISTS (SELECT 1 FROM messages WHERE status = 'sending')")
BENCH_DB = "hipaa_mail_bench"
_WRK_THREADS = 2


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def raw_ceiling(n: int, connections: int, port: int, ca: Path, composer: Composer,
                      subject: str = "Upcoming Appointment Reminder",
                      extra_headers: dict[str, str] | None = None) -> Spent:
    """Prebuilt messages of the service's own shape (its ``composer``, ``subject``,
    ``extra_headers``), pushed by bare aiosmtplib over ``connections`` TLS sessions; ``own``
    is the client's CPU (this process's)."""
    messages = [
        composer.render(
            recipient=f"p{i}@example.org",
            subject=subject,
            link_url=f"https://portal.test/p/{'x' * 43}",
            extra_headers=extra_headers,
        )
        for i in range(n)
    ]
    context = tls_context(str(ca))

    async def push(share: list) -> None:  # type: ignore[type-arg]
        client = aiosmtplib.SMTP(
            hostname="127.0.0.1", port=port, start_tls=True, tls_context=context
        )
        await client.connect()
        for env in share:
            await client.sendmail(env.sender, [env.recipient], env.data)
        await client.quit()

    meter = Meter(time.process_time)
    await asyncio.gather(*(push(messages[i::connections]) for i in range(connections)))
    meter.stop()
    return meter.spent(n)


def dsn_of(name: str) -> str:
    """The DSN of database ``name`` on the bench's PostgreSQL."""
    return ADMIN_DSN.rsplit("/", 1)[0] + "/" + name


async def fresh_database(name: str = BENCH_DB) -> str:
    """A new, migrated database ``name``; each bench has its own, so they may run side by side."""
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    dsn = dsn_of(name)
    await migrate(dsn)
    return dsn


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds this machine's cores have been busy so far, whoever kept them busy (the
    service, PostgreSQL, the relay, the load, the kernel's I/O): /proc/stat's user, nice,
    system, irq and softirq (not idle, I/O wait or steal)."""
    user, nice, system, _, _, irq, softirq = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


async def database_cpu_seconds(db: asyncpg.Connection, database: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to ``database`` (on this machine; none
    if PostgreSQL runs elsewhere)."""
    seconds = {}
    for pid in await db.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database):
        try:
            seconds[pid["pid"]] = cpu_seconds(pid["pid"])
        except FileNotFoundError:
            continue
    return seconds


def database_cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


@dataclass(frozen=True, slots=True)
class Spent:
    """A measured stretch of work: messages a second, and per message (µs) the machine's busy
    CPU and the CPU of the process ``Meter`` was given."""
    rate: float
    machine_us: float
    own_us: float

    def cores(self) -> float:
        """How many of the machine's cores were busy on average."""
        return self.machine_us * self.rate / 1e6


class Meter:
    """Started on creation; ``own`` reads the CPU seconds of the process of interest."""

    def __init__(self, own: Callable[[], float]) -> None:
        self._own = own
        self._start = self._read()
        self._end = self._start

    def _read(self) -> tuple[float, float, float]:
        return time.perf_counter(), machine_busy_seconds(), self._own()

    def stop(self) -> None:
        self._end = self._read()

    def spent(self, n: int) -> Spent:
        wall, busy, own = (end - start for end, start in zip(self._end, self._start, strict=True))
        return Spent(n / wall, busy / n * 1e6, own / n * 1e6)


@dataclass(frozen=True, slots=True)
class Round:
    end_to_end: Spent  # first request to last 250, API and worker side by side; own: the worker
    delivery: Spent  # worker resumed to last 250, every message already accepted; likewise
    database_us: float  # PostgreSQL's CPU per message delivered alone


async def _all_sent(db: asyncpg.Connection, meter: Meter) -> int:
    """Waits until nothing is left to send, stops ``meter`` and returns the number of
    messages, every one sent. Polls the partial indexes of the rows still to send (a few
    pages), not a count of the whole table, which cost PostgreSQL a millisecond a poll at this
    size, taken from the service it measured."""
    started = time.perf_counter()
    while await db.fetchval(_IN_FLIGHT):
        if time.perf_counter() - started > 600:
            raise TimeoutError("service did not deliver in time")
        await asyncio.sleep(0.02)
    meter.stop()
    messages, sent = await db.fetchrow(
        "SELECT count(*), count(*) FILTER (WHERE status = 'sent') FROM messages")
    if sent != messages:
        raise SystemExit(f"{sent} of {messages} messages sent: the rest failed or were refused")
    return int(messages)


async def _accept(n: int, api_port: int, key: str, workdir: Path) -> float:
    """Posts at least ``n`` reminders with wrk; returns the seconds that took."""
    result, answered = await wrk_load.post_at_least(
        f"http://127.0.0.1:{api_port}", key, n, connections=16, threads=_WRK_THREADS,
        workdir=workdir)
    if set(result["statuses"]) != {"202"}:
        raise SystemExit(f"wrk: answers {result['statuses']} to reminders")
    return answered


async def service_rate(n: int, api_port: int, dsn: str, key: str, worker: int,
                       workdir: Path) -> Round:
    """Two sends of ``n``: end to end (accepting while delivering), then delivery alone: the
    worker is stopped (SIGSTOP) while the API accepts, and timed from SIGCONT, so the figure is
    the worker's own, not the API's accept rate."""
    db = await asyncpg.connect(dsn)
    await db.execute(_EMPTY)
    worker_cpu = functools.partial(cpu_seconds, worker)
    meter = Meter(worker_cpu)
    accepted = await _accept(n, api_port, key, workdir)
    messages = await _all_sent(db, meter)
    end_to_end = meter.spent(messages)
    # Emptied while the worker runs (TRUNCATE waits for every open transaction), and stopped
    # once its run has audited and ended, so that it holds no transaction while stopped.
    await db.execute(_EMPTY)
    await asyncio.sleep(QUIET_SECONDS)
    os.kill(worker, signal.SIGSTOP)
    try:
        await _accept(n, api_port, key, workdir)
    finally:
        database_before = await database_cpu_seconds(db, BENCH_DB)
        meter = Meter(worker_cpu)
        os.kill(worker, signal.SIGCONT)
    delivered = await _all_sent(db, meter)
    alone = meter.spent(delivered)
    database = database_cpu_spent(database_before, await database_cpu_seconds(db, BENCH_DB))
    await db.close()
    print(f"  service: accepted {messages} in {accepted:.2f}s ({messages / accepted:.0f}/s), "
          f"all sent {messages / end_to_end.rate:.2f}s after the first; delivery alone "
          f"{delivered} in {delivered / alone.rate:.2f}s", flush=True)
    return Round(end_to_end, alone, database / delivered * 1e6)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    add_relay_argument(parser)
    args = parser.parse_args()
    wrk_load.require()
    if args.messages % _WRK_THREADS:
        parser.error(f"--messages must split evenly over wrk's {_WRK_THREADS} threads")

    workdir = Path(tempfile.mkdtemp(prefix="hipaa-bench-"))
    certs = make_test_pki(workdir / "pki")
    smtp_port = free_port()
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        stack.enter_context(relay(args.relay, smtp_port, certs, workdir / "pki"))
        await run(args, workdir, certs, smtp_port)


def add_relay_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--relay", choices=("postfix", "sink"),
                        default="postfix" if postfix_relay.available() else "sink")


@contextlib.contextmanager
def relay(kind: str, port: int, certs: CertFiles, cert_dir: Path) -> Iterator[None]:
    """The bench's relay on ``port``: its own Postfix, or the aiosmtpd sink (``--relay``)."""
    with postfix_relay.postfix_relay(port, certs) if kind == "postfix" else relay_sink(
            port, cert_dir):
        print(f"relay: {kind} on 127.0.0.1:{port}", flush=True)
        yield


@contextlib.contextmanager
def relay_sink(port: int, cert_dir: Path) -> Iterator[None]:
    sink = subprocess.Popen([sys.executable, str(ROOT / "bench/relay_sink.py"), str(port),
                             str(cert_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
        yield
    finally:
        sink.terminate()
        sink.wait(timeout=30)


def _median(spent: Sequence[Spent]) -> Spent:
    return Spent(statistics.median(s.rate for s in spent),
                 statistics.median(s.machine_us for s in spent),
                 statistics.median(s.own_us for s in spent))


def _figures(raw: Spent, service: Round,
             ratios: Sequence[tuple[float, float]] | None = None) -> str:
    """A round's figures, or (with every round's ``ratios``) the medians'."""
    e2e, alone = service.end_to_end, service.delivery
    ratios = ratios or [(e2e.rate / raw.rate, alone.rate / raw.rate)]
    return (
        f"raw aiosmtplib {raw.rate:,.0f} msg/s; service end to end {e2e.rate:,.0f} msg/s "
        f"(ratio {statistics.median(r for r, _ in ratios):.2f}); delivery alone "
        f"{alone.rate:,.0f} msg/s (ratio {statistics.median(r for _, r in ratios):.2f})\n"
        f"  the machine's busy CPU a message (cores busy): raw {raw.machine_us:,.0f} µs "
        f"({raw.cores():.2f}; its client {raw.own_us:,.0f} µs); end to end "
        f"{e2e.machine_us:,.0f} µs ({e2e.cores():.2f}; the worker {e2e.own_us:,.0f} µs); "
        f"delivery alone {alone.machine_us:,.0f} µs "
        f"({alone.cores():.2f}; the worker {alone.own_us:,.0f} µs, PostgreSQL "
        f"{service.database_us:,.0f} µs)")


async def run(args: argparse.Namespace, workdir: Path, certs: CertFiles, smtp_port: int) -> None:
    api_port = free_port()
    dsn = await fresh_database()
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    assert pool is not None
    key = await create_api_key(pool, "sender", "bench")
    await pool.close()
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "SMTP_PORT": str(smtp_port),
        "SMTP_CA_FILE": str(certs.ca_cert),
        "SMTP_POOL_SIZE": str(args.connections),
        "RATE_LIMIT_SENDER": "0",  # the bench posts faster than a key's default limit
        "MASTER_KEYS": "b1:" + __import__("base64").b64encode(os.urandom(32)).decode(),
        "QUEUE_NAME": f"bench-{os.getpid()}",
        "LOG_LEVEL": "WARNING",
        "MAIL_FROM": "no-reply@clinic.test",
    }
    # The ceiling's messages come from the worker's own renderer and settings.
    composer = composer_for(Settings.from_env(env))
    api = subprocess.Popen(
        [sys.executable, "-m", "service", "api", "--port", str(api_port)], env=env, cwd=workdir
    )
    worker = subprocess.Popen([sys.executable, "-m", "service", "worker"], env=env, cwd=workdir)
    try:
        async with httpx.AsyncClient() as probe:
            for _ in range(100):
                try:
                    if (await probe.get(f"http://127.0.0.1:{api_port}/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raw: list[Spent] = []
        rounds: list[Round] = []
        for round_no in range(1, args.rounds + 1):
            raw.append(await raw_ceiling(args.messages, args.connections, smtp_port, certs.ca_cert,
                                         composer))
            rounds.append(await service_rate(args.messages, api_port, dsn, key, worker.pid,
                                             workdir))
            print(f"round {round_no}: {_figures(raw[-1], rounds[-1])}", flush=True)
        print(f"\n{args.messages} messages over {args.connections} TLS connections, "
              f"{args.rounds} rounds (medians of each figure, and of each round's own ratio)")
        ratios = [(r.end_to_end.rate / c.rate, r.delivery.rate / c.rate)
                  for r, c in zip(rounds, raw, strict=True)]
        medians = Round(_median([r.end_to_end for r in rounds]),
                        _median([r.delivery for r in rounds]),
                        statistics.median(r.database_us for r in rounds))
        print(_figures(_median(raw), medians, ratios))
    finally:
        for proc in (api, worker):
            proc.terminate()
        for proc in (api, worker):
            proc.wait(timeout=30)


if __name__ == "__main__":
    asyncio.run(main())
