"""The moving parts the fault tests break on purpose: a PostgreSQL cluster, a Redis server and
an SMTP relay owned by the test run (so stopping them never touches the shared ones), and the
service's own ``api`` and ``worker`` processes started as an operator starts them."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx

from service.access import create_api_key
from service.core.addresses import email_index
from service.core.config import parse_master_keys
from service.db.data_keys import load_index_key
from service.devtools.certs import CertFiles
from service.devtools.relay import Mailbox, _RelayController, server_tls_context
from tests.conftest import free_port
from tests.helpers import REMINDER, auth

# The newest installed PostgreSQL's initdb and pg_ctl (Debian keeps them off PATH).
PG_BIN = Path(max(glob.glob("/usr/lib/postgresql/*/bin") or ["/usr/lib/postgresql/0/bin"],
                  key=lambda p: int(Path(p).parent.name)))
# initdb and postgres refuse to run as root.
PG_USER = "postgres"
AS_PG_USER = ["runuser", "-u", PG_USER, "--"] if os.geteuid() == 0 else []
MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]*>)", re.MULTILINE | re.IGNORECASE)
POOL_SIZE = 4
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def owned_tmpdir(prefix: str) -> Path:
    """A directory in /tmp the PostgreSQL user can write (pytest's tmp dirs are root-only)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    if AS_PG_USER:
        shutil.chown(path, PG_USER, PG_USER)
    return path


class PgCluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.log = root / "postgres.log"

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*AS_PG_USER, str(PG_BIN / tool), *args], capture_output=True,
                              text=True, timeout=120, check=False, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed:\n{done.stdout}{done.stderr}"
                               f"\n{tail(self.log)}")
        return done

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync", "--locale=C")

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
                   " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def running(self) -> bool:
        done = subprocess.run([*AS_PG_USER, str(PG_BIN / "pg_ctl"), "-D", str(self.data),
                               "status"], capture_output=True, text=True, timeout=30,
                              check=False, cwd=self.root)
        return done.returncode == 0

    def ensure_running(self) -> None:
        """Started again if a test that stopped it failed before it could start it."""
        if not self.running():
            self.start()

    def restart(self, down_seconds: float = 2.0) -> float:
        """Fast stop (connections cut, nothing waited for), ``down_seconds`` with nothing
        listening, and start; returns the seconds the server was away."""
        began = time.monotonic()
        self.stop()
        time.sleep(down_seconds)
        self.start()
        return time.monotonic() - began

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    async def sql(self, statement: str, database: str = "postgres") -> None:
        conn = await asyncpg.connect(self.dsn(database))
        try:
            await conn.execute(statement)
        finally:
            await conn.close()


class RedisServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.log = root / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.process is None
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--logfile", str(self.log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._answers, "redis-server to answer", 15)

    def _answers(self) -> bool:
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """Gone at once, as a crashed or partitioned Redis is: SIGKILL, nothing saved."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def flush(self) -> None:
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port)
        try:
            client.flushall()
        finally:
            client.close()


class _ClosingController(_RelayController):
    """The devtools relay's controller, which also remembers its sessions: aiosmtpd's stop()
    cancels their tasks but leaves their sockets open (a ResourceWarning later, and a peer
    that never hears the connection went away)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sessions: weakref.WeakSet[Any] = weakref.WeakSet()

    def factory(self) -> Any:
        session = super().factory()
        self.sessions.add(session)
        return session

    def stop(self, no_assert: bool = False) -> None:
        async def cut() -> None:
            for session in list(self.sessions):
                # After STARTTLS the session's transport is the TLS layer; the socket's is this.
                transport = session._original_transport or session.transport
                if transport is not None:
                    transport.abort()
            await asyncio.sleep(0.05)  # the transports' connection_lost callbacks close them

        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(cut(), self.loop).result(10)
        super().stop(no_assert)


class Relay:
    """The STARTTLS relay on a fixed port that can be switched off (connections refused, open
    sessions cut) and on again, delivering into the same mailbox."""

    def __init__(self, pki: CertFiles) -> None:
        self.pki = pki
        self.port = free_port()
        self.mailbox = Mailbox()
        self.controller: _ClosingController | None = None

    def start(self) -> None:
        """As ``service.devtools.relay.start_relay`` starts it."""
        assert self.controller is None
        self.controller = _ClosingController(
            self.mailbox, hostname="127.0.0.1", port=self.port, ready_timeout=10,
            decode_data=False, enable_SMTPUTF8=True, tls_context=server_tls_context(self.pki),
            require_starttls=True)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@dataclass
class Tally:
    accepted: int
    delivered: int
    lost: int
    duplicates: int  # by recipient address: unique per message in these tests
    duplicates_by_message_id: int
    unexpected: int  # deliveries to an address that was never accepted
    missing_message_id: int  # delivered mails without a Message-ID header

    def line(self, name: str, recover_seconds: float | None, **extra: Any) -> str:
        recover = "none" if recover_seconds is None else f"{recover_seconds:.1f}"
        more = "".join(f" {k}={v}" for k, v in extra.items())
        return (f"FAULT {name}: accepted={self.accepted} delivered={self.delivered}"
                f" lost={self.lost} duplicates={self.duplicates} recover_seconds={recover}"
                f" duplicates_by_message_id={self.duplicates_by_message_id}"
                f" unexpected={self.unexpected}"
                f" missing_message_id={self.missing_message_id}{more}")


def tally(mailbox: Mailbox, accepted: Iterable[str]) -> Tally:
    expected = {a.lower() for a in accepted}
    messages = list(mailbox.messages)  # appended to by the relay's thread
    by_rcpt = Counter(r.lower() for _, rcpts, _ in messages for r in rcpts)
    ids = [MESSAGE_ID.search(_headers(data)) for _, _, data in messages]
    by_id = Counter(m[1] for m in ids if m)
    return Tally(
        accepted=len(expected),
        delivered=len(expected & by_rcpt.keys()),
        lost=len(expected - by_rcpt.keys()),
        duplicates=sum(n - 1 for r, n in by_rcpt.items() if r in expected),
        duplicates_by_message_id=sum(n - 1 for n in by_id.values()),
        unexpected=sum(n for r, n in by_rcpt.items() if r not in expected),
        missing_message_id=sum(1 for m in ids if m is None),
    )


def _headers(data: bytes) -> bytes:
    end = data.find(b"\r\n\r\n")
    return data if end < 0 else data[:end + 2]


def delivered_count(mailbox: Mailbox) -> int:
    return len(mailbox.messages)


async def wait_delivered(mailbox: Mailbox, accepted: Iterable[str], since: float,
                         limit: float = 60.0, tick: Callable[[], None] | None = None,
                         ) -> float | None:
    """Seconds from ``since`` (a monotonic moment of recovery) until every accepted address had
    its mail, or None when ``limit`` seconds passed first. ``tick`` (say the supervisor's
    round) runs between looks."""
    expected = {a.lower() for a in accepted}
    while True:
        if tick is not None:
            tick()
        got = {r.lower() for _, rcpts, _ in list(mailbox.messages) for r in rcpts}
        if expected <= got:
            return time.monotonic() - since
        if time.monotonic() - since > limit:
            return None
        await asyncio.sleep(0.1)


async def settle(dsn: str, seconds: float = 20.0) -> int:
    """Waits until the outbox holds nothing unsent, so that a late re-send (a lease that ran out
    after its mail had gone) is counted as the duplicate it is; returns what is still open."""
    deadline = time.monotonic() + seconds
    conn = await asyncpg.connect(dsn)
    try:
        while True:
            left = int(await conn.fetchval(
                "SELECT count(*) FROM messages WHERE status IN ('queued', 'sending', 'retrying')"))
            if left == 0 or time.monotonic() > deadline:
                return left
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


NOTABLE = re.compile(r"\b(ERROR|WARNING|CRITICAL|FATAL|PANIC)\b|^Traceback")


def tail(path: Path, lines: int = 40, notable: int = 20) -> str:
    """A log's first ``notable`` warnings and errors (which a busy log's tail has long lost),
    then its last ``lines`` lines."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"({path} missing)"
    marked = [line for line in text[:-lines] if NOTABLE.search(line)]
    head = ""
    if marked:
        head = (f"--- {path.name}: {len(marked)} warnings/errors before the tail, the first"
                f" {min(notable, len(marked))} ---\n" + "\n".join(marked[:notable]) + "\n")
    return head + f"--- {path.name} (last {lines} lines) ---\n" + "\n".join(text[-lines:])


def wait_for(condition: Any, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def await_for(condition: Any, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Service:
    """One test's deployment: its own database, queue, api and worker processes."""

    def __init__(self, root: Path, pg: PgCluster, redis: RedisServer, relay: Relay,
                 database: str, **settings: str) -> None:
        self.root = root
        self.pg = pg
        self.redis = redis
        self.relay = relay
        self.database = database
        self.dsn = pg.dsn(database)
        self.api_port = free_port()
        self.base = f"http://127.0.0.1:{self.api_port}"
        self.api: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.logs: list[Path] = []
        self._files: list[IO[bytes]] = []
        self._started = Counter[str]()
        self.worker_restarts = 0
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")
        self.env = {k: v for k, v in os.environ.items() if k in keep}
        self.env.update({
            "SERVICE_ENV": "development",
            "LOG_LEVEL": "INFO",
            "DATABASE_URL": self.dsn,
            "REDIS_URL": redis.url,
            "QUEUE_NAME": f"faults-{uuid.uuid4().hex[:8]}",
            "MASTER_KEYS": "k1:" + base64.b64encode(os.urandom(32)).decode(),
            "MAIL_FROM": "Riverside Clinic <no-reply@clinic.test>",
            "CLINIC_NAME": "Riverside Clinic",
            "PUBLIC_BASE_URL": "https://portal.clinic.test",
            "API_HOST": "127.0.0.1",
            "API_PORT": str(self.api_port),
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(relay.port),
            "SMTP_TLS": "starttls",
            "SMTP_CA_FILE": str(relay.pki.ca_cert),
            "SMTP_POOL_SIZE": str(POOL_SIZE),
            "WORKER_HEARTBEAT_FILE": str(root / "worker.heartbeat"),
            # The scenarios post backlogs faster than a key's default limit: outages are under
            # test here, not the limiter.
            "RATE_LIMIT_SENDER": "0",
        })
        self.env.update(settings)
        self.keys: dict[str, str] = {}

    def _spawn(self, verb: str) -> subprocess.Popen[bytes]:
        self._started[verb] += 1
        log = self.root / f"{verb}-{self._started[verb]}.log"
        self.logs.append(log)
        handle = log.open("wb")
        self._files.append(handle)
        # cwd is the test's own directory: Settings reads a .env from the working directory.
        return subprocess.Popen([sys.executable, "-m", "service", verb], cwd=self.root,
                                env=self.env, stdout=handle, stderr=subprocess.STDOUT)

    def start_api(self, wait: bool = True) -> None:
        assert self.api is None or self.api.poll() is not None
        self.api = self._spawn("api")
        if wait:
            wait_for(self._api_up, "the API to listen", 30)

    def _api_up(self) -> bool:
        assert self.api is not None
        if self.api.poll() is not None:
            raise AssertionError(f"the API exited with {self.api.returncode}\n{self.report()}")
        try:
            return httpx.get(self.base + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def start_worker(self) -> None:
        assert self.worker is None or self.worker.poll() is not None
        self.worker = self._spawn("worker")

    def kill_worker(self) -> None:
        assert self.worker is not None
        self.worker.kill()
        self.worker.wait(10)

    def supervise_worker(self) -> None:
        """What a process supervisor does: a worker that exited is started again (counted)."""
        if self.worker is not None and self.worker.poll() is not None:
            self.worker_restarts += 1
            self.start_worker()

    def migrate(self) -> None:
        done = subprocess.run([sys.executable, "-m", "service", "migrate"], cwd=self.root,
                              env=self.env, capture_output=True, text=True, timeout=120,
                              check=False)
        if done.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{done.stdout}{done.stderr}")

    def stop(self) -> None:
        for process in (self.api, self.worker):
            if process is not None and process.poll() is None:
                process.terminate()
        for process in (self.api, self.worker):
            if process is not None:
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)
        for handle in self._files:
            handle.close()
        self._files.clear()

    def report(self) -> str:
        """The tails of every api and worker log of the test, and of PostgreSQL's."""
        return "\n".join(tail(log) for log in [*self.logs, self.pg.log])

    async def make_keys(self) -> dict[str, str]:
        pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=2)
        assert pool is not None
        try:
            for role in ("sender", "marketer", "admin"):
                self.keys[role] = await create_api_key(pool, role, f"faults {role}")
        finally:
            await pool.close()
        return self.keys


@dataclass
class Outcome:
    address: str
    status: int  # 0: no HTTP answer at all
    at: float
    retry_after: str | None = None
    problem_type: str | None = None
    error: str | None = None


def reminder(address: str) -> dict[str, Any]:
    return {**REMINDER, "to": address}


async def post_reminder(client: httpx.AsyncClient, key: str, address: str) -> Outcome:
    try:
        response = await client.post("/v1/messages", json=reminder(address),
                                     headers={**auth(key), "Idempotency-Key": address})
    except httpx.HTTPError as exc:
        return Outcome(address, 0, time.monotonic(), error=repr(exc))
    outcome = Outcome(address, response.status_code, time.monotonic(),
                      retry_after=response.headers.get("retry-after"))
    if response.status_code != 202:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            outcome.problem_type = str(body.get("type"))
        else:
            outcome.error = response.text[:200]
    return outcome


async def post_many(base: str, key: str, addresses: list[str], concurrency: int = 20,
                    outcomes: list[Outcome] | None = None,
                    honour_retry_after: bool = False) -> list[Outcome]:
    """Posts a reminder to each address, ``concurrency`` at a time; ``outcomes`` (appended to
    as answers come) lets a caller watch the progress. ``honour_retry_after``: as a careful
    client does, a 503 with Retry-After is asked again after that long, with the same
    Idempotency-Key (every answer is kept in ``outcomes``)."""
    queue = list(reversed(addresses))
    outcomes = [] if outcomes is None else outcomes

    async def lane(client: httpx.AsyncClient) -> None:
        while queue:
            address = queue.pop()
            while True:
                outcome = await post_reminder(client, key, address)
                outcomes.append(outcome)
                if not (honour_retry_after and outcome.status == 503 and outcome.retry_after):
                    break
                await asyncio.sleep(float(outcome.retry_after))

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=15, limits=limits) as client:
        await asyncio.gather(*(lane(client) for _ in range(concurrency)))
    return outcomes


def addresses(tag: str, count: int, start: int = 0) -> list[str]:
    return [f"patient+{tag}{n}@example.org" for n in range(start, start + count)]


async def possible_duplicates_metric(base: str, admin_key: str) -> float | None:
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        response = await client.get("/metrics", headers=auth(admin_key))
    if response.status_code != 200:
        return None
    total = None
    for line in response.text.splitlines():
        if line.startswith("hipaa_mail_possible_duplicates_total"):
            total = (total or 0.0) + float(line.rsplit(" ", 1)[1])
    return total


def record(line: str) -> None:
    """A scenario's figures: on stdout (``pytest -s``, CI logs) and appended to
    tests/artifacts/faults.txt."""
    print(f"\n{line}", flush=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with (ARTIFACTS / "faults.txt").open("a") as out:
        out.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")


@contextlib.asynccontextmanager
async def supervisor(svc: Service, every: float = 1.0) -> AsyncIterator[None]:
    """Plays the process supervisor for the block: a worker that exited is started again."""

    async def rounds() -> None:
        while True:
            svc.supervise_worker()
            await asyncio.sleep(every)

    task = asyncio.create_task(rounds())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_count(mailbox: Mailbox, count: int, limit: float,
                     alive: Service | None = None) -> int:
    """Waits until the relay has accepted ``count`` mails; returns how many it has then. With
    ``alive``, its worker must still be running (a worker that died would never get there)."""
    deadline = time.monotonic() + limit
    while (got := delivered_count(mailbox)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"only {got} of {count} mails within {limit} s")
        if alive is not None and alive.worker is not None and alive.worker.poll() is not None:
            raise AssertionError(f"the worker exited ({alive.worker.returncode}) after {got}"
                                 f" mails\n{alive.report()}")
        await asyncio.sleep(0.01)
    return got


async def status_counts(dsn: str) -> dict[str, int]:
    """Messages by status; those not sent also by their last error class ("failed/network")."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT status || CASE WHEN status <> 'sent' AND last_error_class IS NOT NULL"
            " THEN '/' || last_error_class ELSE '' END AS status, count(*) AS n"
            " FROM messages GROUP BY 1 ORDER BY 1")
    finally:
        await conn.close()
    return {row["status"]: int(row["n"]) for row in rows}


def answers(outcomes: Iterable[Outcome]) -> dict[int, int]:
    """How many requests got each HTTP status (0: no answer at all)."""
    return dict(sorted(Counter(o.status for o in outcomes).items()))


async def authorize_marketing(svc: Service, recipients: list[str]) -> None:
    """Setup only, as tests/campaign_setup.authorize_all does it: a contact with a confirmed
    marketing authorization per address, written straight into the test's database, keyed and
    sealed as the service's own processes do (the database's index key, MASTER_KEYS)."""
    keyring = parse_master_keys(svc.env["MASTER_KEYS"])
    conn = await asyncpg.connect(svc.dsn)
    try:
        await load_index_key(conn, keyring)
        key_id = await conn.fetchval("SELECT id FROM api_keys WHERE role = 'marketer'")
        contacts, grants, events = [], [], []
        for address in recipients:
            contact_id, auth_id = uuid.uuid4(), uuid.uuid4()
            sealed = keyring.seal(address.encode(), contact_id.bytes + b"email")
            # The key is in the "default" organization, whose index scope is empty.
            contacts.append((contact_id, email_index(keyring, address, b""), sealed, key_id))
            grants.append((auth_id, contact_id, hashlib.sha256(address.encode()).digest(),
                           hashlib.sha256(b"c" + address.encode()).digest(), key_id))
            events += [(contact_id, action, auth_id) for action in ("grant", "confirm")]
        async with conn.transaction():
            await conn.executemany(
                "INSERT INTO contacts (id, email_index, email_sealed, created_by, organization_id)"
                " SELECT $1, $2, $3, $4, organization_id FROM api_keys WHERE id = $4", contacts)
            await conn.executemany(
                "INSERT INTO marketing_authorizations (id, contact_id, information_used,"
                " used_by, purpose_description, expires_at, signed_at, revocation_right_noted,"
                " remuneration, document_sha256, confirm_token_hash, created_by) VALUES ($1, $2,"
                " 'email', 'clinic', 'newsletter', now() + interval '1 year', now(), true,"
                " false, $3, $4, $5)", grants)
            await conn.executemany(
                "INSERT INTO consent_events (contact_id, purpose, action, source, actor,"
                " authorization_id) VALUES ($1, 'marketing', $2, 'paper', 'test', $3)", events)
    finally:
        await conn.close()


def verdict(svc: Service, line: str, checks: list[tuple[bool, str]]) -> None:
    """Fails with every check that did not hold (not just the first), the scenario's figures
    and the processes' logs."""
    failed = [what for held, what in checks if not held]
    assert not failed, "\n".join(["failed: " + what for what in failed] + [line, svc.report()])
