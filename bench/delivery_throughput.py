"""End-to-end reminders per second against the bare aiosmtplib ceiling, in one run.

Both sides push N messages over the same number of TLS connections to the same STARTTLS relay:
a private Postfix instance (``postfix_relay.py``; it queues each message, then discards it) when
Debian's postfix is installed, else, or with ``--relay sink``, an aiosmtpd sink in its own
process. The service side is measured from the first API request to the last relay
250 (seen as the last row turning `sent`), with the real API and worker processes; then again
with the worker paused while the API accepts, timed from its resumption (delivery alone: the
worker's own rate, which the API's accept rate does not cap), and with the worker's CPU per
message.

    python bench/delivery_throughput.py [--messages 3000] [--connections 4] [--rounds 3]
                                        [--relay postfix|sink]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiosmtplib
import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import postfix_relay  # noqa: E402
from bench.http_load import post_many  # noqa: E402
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
BENCH_DB = "hipaa_mail_bench"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def raw_ceiling(n: int, connections: int, port: int, ca: Path, composer: Composer,
                      subject: str = "Upcoming Appointment Reminder",
                      extra_headers: dict[str, str] | None = None) -> float:
    """Prebuilt messages of the service's own shape (its ``composer``, ``subject``,
    ``extra_headers``), pushed by bare aiosmtplib over ``connections`` TLS sessions."""
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

    started = time.perf_counter()
    await asyncio.gather(*(push(messages[i::connections]) for i in range(connections)))
    return n / (time.perf_counter() - started)


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


@dataclass(frozen=True, slots=True)
class Round:
    end_to_end: float  # msg/s, first request to last 250, API and worker side by side
    delivery: float  # msg/s, worker resumed to last 250, every message already accepted
    cpu_us: float  # the worker's CPU per message delivered alone


async def _all_sent(db: asyncpg.Connection, n: int, started: float) -> float:
    while await db.fetchval("SELECT count(*) FROM messages WHERE status = 'sent'") < n:
        if time.perf_counter() - started > 600:
            raise TimeoutError("service did not deliver in time")
        await asyncio.sleep(0.02)
    return time.perf_counter() - started


async def _accept(n: int, api_port: int, key: str) -> float:
    bodies = [
        {"to": f"p{i}@example.org", "purpose": "treatment",
         "subject": "Upcoming Appointment Reminder", "content": f"Appointment details {i}"}
        for i in range(n)
    ]
    started = time.perf_counter()
    statuses = await post_many("127.0.0.1", api_port, "/v1/messages",
                               {"Authorization": f"Bearer {key}"}, bodies, connections=16)
    assert set(statuses) == {202}, set(statuses)
    return started


async def service_rate(n: int, api_port: int, dsn: str, key: str, worker: int) -> Round:
    """Two sends of ``n``: end to end (accepting while delivering), then delivery alone: the
    worker is stopped (SIGSTOP) while the API accepts, and timed from SIGCONT, so the figure is
    the worker's own, not the API's accept rate."""
    db = await asyncpg.connect(dsn)
    await db.execute(_EMPTY)
    started = await _accept(n, api_port, key)
    accepted = time.perf_counter() - started
    elapsed = await _all_sent(db, n, started)
    # Emptied while the worker runs (TRUNCATE waits for every open transaction), and stopped
    # once its run has audited and ended, so that it holds no transaction while stopped.
    await db.execute(_EMPTY)
    await asyncio.sleep(QUIET_SECONDS)
    os.kill(worker, signal.SIGSTOP)
    try:
        await _accept(n, api_port, key)
    finally:
        cpu = cpu_seconds(worker)
        os.kill(worker, signal.SIGCONT)
    alone = await _all_sent(db, n, time.perf_counter())
    cpu = cpu_seconds(worker) - cpu
    await db.close()
    print(f"  service: accepted {n} in {accepted:.2f}s ({n / accepted:.0f}/s), "
          f"all sent after {elapsed:.2f}s; delivery alone {alone:.2f}s; "
          f"worker CPU {cpu / n * 1e6:.0f} µs/message", flush=True)
    return Round(n / elapsed, n / alone, cpu / n * 1e6)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--relay", choices=("postfix", "sink"),
                        default="postfix" if postfix_relay.available() else "sink")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="hipaa-bench-"))
    certs = make_test_pki(workdir / "pki")
    smtp_port = free_port()
    with contextlib.ExitStack() as stack:
        if args.relay == "postfix":
            stack.enter_context(postfix_relay.postfix_relay(smtp_port, certs))
        else:
            stack.enter_context(relay_sink(smtp_port, workdir / "pki"))
        print(f"relay: {args.relay} on 127.0.0.1:{smtp_port}", flush=True)
        await run(args, workdir, certs, smtp_port)


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
        raw: list[float] = []
        rounds: list[Round] = []
        for round_no in range(1, args.rounds + 1):
            raw.append(await raw_ceiling(args.messages, args.connections, smtp_port, certs.ca_cert,
                                         composer))
            rounds.append(await service_rate(args.messages, api_port, dsn, key, worker.pid))
            r = rounds[-1]
            print(f"round {round_no}: raw {raw[-1]:.0f}/s; end to end {r.end_to_end:.0f}/s "
                  f"(ratio {r.end_to_end / raw[-1]:.2f}); delivery alone {r.delivery:.0f}/s "
                  f"(ratio {r.delivery / raw[-1]:.2f})", flush=True)
        raw_m = statistics.median(raw)
        e2e_m = statistics.median(r.end_to_end for r in rounds)
        alone_m = statistics.median(r.delivery for r in rounds)
        print(
            f"\n{args.messages} messages over {args.connections} TLS connections, "
            f"{args.rounds} rounds (medians; ratios are medians of each round's own ratio)"
        )
        print(f"  bare aiosmtplib ceiling: {raw_m:8.0f} msg/s")
        pairs = list(zip(rounds, raw, strict=True))
        print(f"  service end to end:      {e2e_m:8.0f} msg/s   ratio "
              f"{statistics.median(r.end_to_end / c for r, c in pairs):.2f}")
        print(f"  worker delivery alone:   {alone_m:8.0f} msg/s   ratio "
              f"{statistics.median(r.delivery / c for r, c in pairs):.2f}")
        print(f"  worker CPU:              "
              f"{statistics.median(r.cpu_us for r in rounds):8.0f} µs/message")
    finally:
        for proc in (api, worker):
            proc.terminate()
        for proc in (api, worker):
            proc.wait(timeout=30)


if __name__ == "__main__":
    asyncio.run(main())
