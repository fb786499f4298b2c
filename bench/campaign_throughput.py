"""A large campaign on this machine: staging rate, delivery against the bare aiosmtplib ceiling,
and the worker's memory.

    python bench/campaign_throughput.py --recipients 100000 [--no-deliver | --deliver-first N]
                                        [--connections 4] [--workers 1] [--no-bare]
                                        [--relay postfix|sink]

Staging rate is upload start to every message queued (CSV upload + consent-filtered fan-out):
with --no-deliver the campaign is scheduled an hour ahead so the fan-out runs alone; otherwise
its messages are due at once and delivery competes with the fan-out for the machine. Its
baseline in the same run is PostgreSQL's own floor for the same rows: as many audience rows,
then message rows, COPYed by bare asyncpg into copies of the two tables with the same indexes
(no parsing, sealing, consent check or foreign keys; the message rows over as many connections
as the fan-out has lanes).
Delivery is send to the last relay 250 (with the worker's CPU time per message, a figure that
moves less with the machine's load than rates do); the ceiling is the same number of prebuilt
messages over the same number of TLS connections to the same relay, in the same run: the
bench's own Postfix (bench/postfix_relay.py, as the delivery bench's) when postfix is installed,
else the aiosmtpd sink, which offers no PIPELINING and spends as much CPU a message as either
sender. With
--deliver-first N the run ends once N messages are sent: a million deliveries take too long
here, and N of them show whether delivering a campaign's messages makes the worker grow.
Memory is each worker's peak (VmHWM) over the whole run, and the API's, each against its
resident size once started and idle. Setup writes the authorizations straight into the ledger.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.delivery_throughput import (  # noqa: E402
    add_relay_argument,
    cpu_seconds,
    free_port,
    fresh_database,
    raw_ceiling,
    relay,
)
from service.access import create_api_key  # noqa: E402
from service.core.addresses import email_index  # noqa: E402
from service.core.config import Settings, parse_master_keys  # noqa: E402
from service.delivery.sender import composer_for  # noqa: E402
from service.devtools.certs import CertFiles, make_test_pki  # noqa: E402


def memory_mb(pid: int, field: str = "VmHWM") -> float:
    """A /proc status memory figure of ``pid``: VmHWM, its peak resident size, or VmRSS, now."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def authorize(dsn: str, master_keys: str, addresses: list[str], key_id: uuid.UUID) -> None:
    keyring = parse_master_keys(master_keys)
    now, year = dt.datetime.now(dt.UTC), dt.timedelta(days=365)
    contacts, auths, events = [], [], []
    conn = await asyncpg.connect(dsn)
    organization = await conn.fetchval("SELECT organization_id FROM api_keys WHERE id = $1",
                                       key_id)
    for address in addresses:
        contact_id, auth_id = uuid.uuid4(), uuid.uuid4()
        # The bench's keys are in the "default" organization, whose index scope is empty.
        contacts.append((contact_id, email_index(keyring, address, b""),
                         keyring.seal(address.encode(), contact_id.bytes + b"email"), key_id,
                         organization))
        digest = hashlib.sha256(address.encode()).digest()
        auths.append((auth_id, contact_id, "email", "clinic", "newsletter", True, False, digest,
                      hashlib.sha256(b"c" + digest).digest(), key_id, now, now + year))
        events += [(contact_id, "marketing", a, "paper", "bench", auth_id)
                   for a in ("grant", "confirm")]
    await conn.copy_records_to_table(
        "contacts", records=contacts,
        columns=["id", "email_index", "email_sealed", "created_by", "organization_id"])
    await conn.copy_records_to_table(
        "marketing_authorizations", records=auths,
        columns=["id", "contact_id", "information_used", "used_by", "purpose_description",
                 "revocation_right_noted", "remuneration", "document_sha256",
                 "confirm_token_hash", "created_by", "signed_at", "expires_at"])
    await conn.copy_records_to_table(
        "consent_events", records=events,
        columns=["contact_id", "purpose", "action", "source", "actor", "authorization_id"])
    await conn.close()


async def csv_body(addresses: list[str]):  # type: ignore[no-untyped-def]
    yield b"email\n"
    for start in range(0, len(addresses), 10000):
        yield ("\n".join(addresses[start:start + 10000]) + "\n").encode()


async def bare_copy(dsn: str, n: int, lanes: int) -> float:
    """Seconds PostgreSQL takes to take ``n`` audience rows, then ``n`` message rows, by COPY into
    index-only copies of both tables; the rows are made beforehand, outside the timing."""
    db = await asyncpg.connect(dsn)
    await db.execute("CREATE TABLE bare_audience (LIKE campaign_audience INCLUDING ALL);"
                     "CREATE TABLE bare_messages (LIKE messages INCLUDING ALL)")
    campaign, now = uuid.uuid4(), dt.datetime.now(dt.UTC)
    # Sizes of the real rows: a 32-byte index and a sealed address of about 60 bytes.
    audience = [(campaign, os.urandom(32), os.urandom(60)) for _ in range(n)]
    messages = [(uuid.uuid4(), "marketing", "queued", "Our Spring Newsletter", sealed, now, now,
                 index, now + dt.timedelta(microseconds=i), campaign)
                for i, (_, index, sealed) in enumerate(audience)]
    conns = [db, *[await asyncpg.connect(dsn) for _ in range(lanes - 1)]]
    started = time.perf_counter()
    async with db.transaction():
        await db.copy_records_to_table("bare_audience", records=audience)
    await asyncio.gather(*(
        conn.copy_records_to_table("bare_messages", records=messages[lane::lanes], columns=[
            "id", "purpose", "status", "subject", "recipient_sealed", "give_up_at", "expires_at",
            "recipient_index", "next_attempt_at", "campaign_id"])
        for lane, conn in enumerate(conns)))
    elapsed = time.perf_counter() - started
    await db.execute("DROP TABLE bare_audience, bare_messages")
    for conn in conns:
        await conn.close()
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=100000)
    parser.add_argument("--connections", type=int, default=4)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--no-deliver", action="store_true")
    mode.add_argument("--deliver-first", type=int, metavar="N",
                      help="end once N messages are sent (memory over a campaign's start)")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes; the connections are shared out among them")
    parser.add_argument("--no-bare", action="store_true",
                        help="skip the bare COPY baseline for staging")
    add_relay_argument(parser)
    args = parser.parse_args()
    n = args.recipients

    workdir = Path(tempfile.mkdtemp(prefix="hipaa-campaign-"))
    certs = make_test_pki(workdir / "pki")
    smtp_port, api_port = free_port(), free_port()
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        stack.enter_context(relay(args.relay, smtp_port, certs, workdir / "pki"))
        await run(args, n, workdir, certs, smtp_port, api_port)


async def run(args: argparse.Namespace, n: int, workdir: Path, certs: CertFiles,
              smtp_port: int, api_port: int) -> None:
    dsn = await fresh_database("hipaa_mail_bench_campaign")
    master_keys = "b1:" + base64.b64encode(os.urandom(32)).decode()
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    assert pool is not None
    key = await create_api_key(pool, "marketer", "bench")
    key_id = await pool.fetchval("SELECT id FROM api_keys")
    await pool.close()
    addresses = [f"patient{i}@example.org" for i in range(n)]
    started = time.perf_counter()
    await authorize(dsn, master_keys, addresses, key_id)
    print(f"setup: {n} confirmed authorizations in {time.perf_counter() - started:.1f}s")
    env = {
        **os.environ, "DATABASE_URL": dsn, "SMTP_PORT": str(smtp_port),
        "SMTP_CA_FILE": str(certs.ca_cert), "SMTP_POOL_SIZE": str(args.connections // args.workers),
        "MASTER_KEYS": master_keys, "QUEUE_NAME": f"bench-{os.getpid()}", "LOG_LEVEL": "WARNING",
        "MAIL_FROM": "no-reply@clinic.test",
    }
    api = subprocess.Popen([sys.executable, "-m", "service", "api", "--port", str(api_port)],
                           env=env, cwd=workdir)
    workers = [subprocess.Popen([sys.executable, "-m", "service", "worker"], env=env, cwd=workdir)
               for _ in range(args.workers)]
    db = await asyncpg.connect(dsn)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=600,
                                     headers={"Authorization": f"Bearer {key}"}) as http:
            for _ in range(100):
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            # Started and polling its queue: what a worker holds before any campaign.
            await asyncio.sleep(2)
            at_start = [memory_mb(worker.pid, "VmRSS") for worker in workers]
            api_at_start = memory_mb(api.pid, "VmRSS")
            campaign_fields = {"name": "bench", "subject": "Our Spring Newsletter",
                               "content": "News.", "rate_per_second": 10000}
            if args.no_deliver:
                # Staging alone: the messages are queued for an hour from now, so no delivery
                # shares the machine with the fan-out being measured.
                later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
                campaign_fields["scheduled_at"] = later.isoformat()
            created = await http.post("/v1/campaigns", json=campaign_fields)
            campaign = created.json()["id"]
            t0 = time.perf_counter()
            report = (await http.post(f"/v1/campaigns/{campaign}/audience",
                                      content=csv_body(addresses),
                                      headers={"Content-Type": "text/csv"})).json()
            uploaded = time.perf_counter() - t0
            assert report["accepted"] == n, report
            await http.post(f"/v1/campaigns/{campaign}/send")
            while (await db.fetchval("SELECT status FROM campaigns")) == "staging":  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            staged = time.perf_counter() - t0
            queued = await db.fetchval("SELECT count(*) FROM messages")
            print(f"upload {n} rows: {uploaded:.1f}s ({n / uploaded:,.0f} rows/s); "
                  f"upload to {queued} queued: {staged:.1f}s ({n / staged:,.0f} recipients/s)",
                  flush=True)
            if args.deliver_first is not None:
                t1 = time.perf_counter()
                sent = 0
                while sent < args.deliver_first:
                    await asyncio.sleep(0.2)
                    sent = await db.fetchval(
                        "SELECT count(*) FROM messages WHERE campaign_id = $1 AND status = 'sent'",
                        uuid.UUID(campaign))
                print(f"delivery: first {sent} sent {time.perf_counter() - t1:.1f}s after "
                      f"fan-out (sending at once, beside the fan-out)", flush=True)
            elif not args.no_deliver:
                t1 = time.perf_counter()
                cpu_at_staged = sum(cpu_seconds(worker.pid) for worker in workers)
                # The campaign turns 'done' with its last send: a one-row read, where counting
                # sent rows would itself load PostgreSQL while the service is being measured.
                while (await db.fetchval("SELECT status FROM campaigns")) != "done":  # noqa: ASYNC110
                    await asyncio.sleep(0.2)
                assert await db.fetchval(
                    "SELECT count(*) FROM messages WHERE status = 'sent'") == n
                delivered = time.perf_counter() - t1
                service_rate = n / (staged - uploaded + delivered)
                # Steadier than a rate on a shared machine: the worker's own CPU for the sends
                # that followed the fan-out.
                cpu = sum(cpu_seconds(worker.pid) for worker in workers) - cpu_at_staged
                print(f"delivery: {n} sent {delivered:.1f}s after fan-out; "
                      f"send-to-last-250 {service_rate:,.0f} msg/s; "
                      f"worker CPU {cpu / n * 1e6:.0f} µs/message", flush=True)
        over = ("the fan-out" if args.no_deliver else
                f"the fan-out and the first {args.deliver_first} sends"
                if args.deliver_first is not None else "the fan-out and every send")
        peaks = ", ".join(f"{memory_mb(worker.pid):.0f} MB (at start {idle:.0f} MB)"
                          for worker, idle in zip(workers, at_start, strict=True))
        print(f"worker peak memory (VmHWM) over {over} of {n}: {peaks}; "
              f"API peak {memory_mb(api.pid):.0f} MB (at start {api_at_start:.0f} MB)", flush=True)
        if not args.no_deliver and args.deliver_first is None:
            # The same shape as the campaign's mail: its subject and one-click unsubscribe.
            raw = await raw_ceiling(
                n, args.connections, smtp_port, certs.ca_cert,
                composer_for(Settings.from_env(env)), subject="Our Spring Newsletter",
                extra_headers={"List-Unsubscribe": f"<https://portal.test/u/{'x' * 43}>",
                               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
            print(f"bare aiosmtplib ceiling: {raw.rate:,.0f} msg/s; ratio "
                  f"{service_rate / raw.rate:.2f}; its client's CPU {raw.own_us:.0f} µs/message")
    finally:
        await db.close()
        for proc in (api, *workers):
            proc.terminate()
        for proc in (api, *workers):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                print(f"pid {proc.pid} still running 30 s after SIGTERM; killed", flush=True)
                proc.kill()
    if not args.no_bare:
        bare = await bare_copy(dsn, n, Settings.from_env(env).fanout_lanes)
        print(f"bare COPY baseline, same run: {n} audience rows then {n} message rows in "
              f"{bare:.1f}s ({n / bare:,.0f} recipients/s); staging ratio {bare / staged:.2f}",
              flush=True)


if __name__ == "__main__":
    asyncio.run(main())
