"""Test fixtures: a real PostgreSQL database built by the migrations, a real Redis, and a real
SMTP relay that requires STARTTLS with a certificate from a CA made for the test run."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette

from service.access import create_api_key
from service.core.clinic import read_logo
from service.core.config import Settings
from service.core.crypto import Keyring
from service.db.migrations import migrate
from service.devtools.certs import CertFiles, make_test_pki
from service.devtools.relay import Mailbox, start_relay
from service.http.app import create_app
from service.worker import build_worker

ADMIN_DSN = os.environ.get("TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TEST_DB = f"hipaa_mail_test_{os.getpid()}"
REDIS_SERVER = os.environ.get("TEST_REDIS_SERVER", "redis://127.0.0.1:6379")
# The key that marks a Redis database as this test run's own.
_CLAIM = "hipaa-mail-tests:claimed-by"


def _dsn(database: str) -> str:
    return ADMIN_DSN.rsplit("/", 1)[0] + "/" + database


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    async def create() -> None:
        conn = await asyncpg.connect(ADMIN_DSN)
        await conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}"')
        await conn.execute(f'CREATE DATABASE "{TEST_DB}"')
        await conn.close()
        await migrate(_dsn(TEST_DB))

    async def drop() -> None:
        conn = await asyncpg.connect(ADMIN_DSN)
        await conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
        await conn.close()

    asyncio.run(create())
    yield _dsn(TEST_DB)
    asyncio.run(drop())


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def rogue_pki(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    """A CA the service does not trust, issuing a certificate for the right host name."""
    return make_test_pki(tmp_path_factory.mktemp("rogue-pki"))


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def relay(mailbox: Mailbox, pki: CertFiles) -> Iterator[int]:
    port = free_port()
    controller = start_relay(mailbox, "127.0.0.1", port, pki)
    yield port
    controller.stop()


@pytest.fixture
async def clean_db(database_url: str) -> AsyncIterator[None]:
    conn = await asyncpg.connect(database_url)
    tables = await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        " AND tablename NOT IN ('schema_migrations', 'organizations')"
    )
    if tables:
        names = ", ".join(f'"{t["tablename"]}"' for t in tables)
        await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    # The "default" organization comes with the migrations (0018); tests add any others.
    await conn.execute("DELETE FROM organizations WHERE index_scope <> ''")
    await conn.close()
    yield


def claim_redis_database() -> str:
    """An empty database of the test Redis, claimed for this run, so that flushing between tests
    never touches anyone else's keys: a database holding anything at all is left alone."""
    import redis

    owner = f"pid {os.getpid()}"
    for db in range(15, 0, -1):
        url = f"{REDIS_SERVER}/{db}"
        client = redis.Redis.from_url(url)
        try:
            if client.dbsize() == 0 and client.set(_CLAIM, owner, nx=True):
                if client.dbsize() == 1:
                    return url
                client.delete(_CLAIM)  # someone else wrote there meanwhile
        finally:
            client.close()
    raise pytest.UsageError(f"no empty database on {REDIS_SERVER} for the tests (1..15 all used)")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    import redis

    url = claim_redis_database()
    yield url
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    await empty_redis(client)
    yield client
    await empty_redis(client)
    await client.aclose()


async def empty_redis(client: aioredis.Redis) -> None:
    """Everything in the run's own database goes, except the claim that keeps it ours."""
    owner = await client.get(_CLAIM)
    await client.flushdb()
    await client.set(_CLAIM, owner or b"tests")


@pytest.fixture
def settings(
    database_url: str, relay: int, pki: CertFiles, clean_db: None, redis_client: aioredis.Redis,
    redis_url: str, tmp_path: Path,
) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        smtp_host="127.0.0.1",
        smtp_port=relay,
        smtp_tls="starttls",
        smtp_ca_file=str(pki.ca_cert),
        smtp_timeout=5.0,
        mail_from="Riverside Clinic <no-reply@clinic.test>",
        clinic_name="Riverside Clinic",
        clinic_phone="+1 555 0100",
        clinic_website="https://riverside.clinic.test",
        clinic_logo=read_logo(str(Path(__file__).parent / "data" / "clinic-logo.png")),
        public_base_url="https://portal.clinic.test",
        keyring=Keyring.generate(),
        queue_name=f"test-queue-{uuid.uuid4().hex}",
        worker_heartbeat_file=str(tmp_path / "worker.heartbeat"),
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """An app of its own, with its client: for settings unlike the fixtures', or a replica."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport,
                                     base_url="https://portal.clinic.test") as c:
            yield application, c


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://portal.clinic.test") as c:
        yield c


@pytest.fixture
async def keys(app: Starlette) -> dict[str, str]:
    pool = app.state.resources.db
    return {
        role: await create_api_key(pool, role, f"test {role}")  # type: ignore[arg-type]
        for role in ("sender", "marketer", "admin")
    }



@asynccontextmanager
async def background_worker(settings: Settings, **options: Any) -> AsyncIterator[None]:
    """A real arq worker running beside the test for the block, then stopped as a SIGTERM
    stops it. Its jobs, and the result writes arq shields from their cancellation, are awaited
    before arq's close(): close() would re-raise the CancelledError of a job cancelled before
    it began, and a result write still running would find its Redis pool closed."""
    worker = build_worker(settings, handle_signals=False, **options)
    # The polling loop is stopped between two polls, never inside one: a poll re-reads a job in
    # progress in a WATCHed pipeline, and redis-py 5 leaks the pipeline's connection when it is
    # cancelled during the UNWATCH that ends it (redis/redis-py#4121), which surfaced as an
    # "Unclosed client session" warning in whichever test ran when the leak was collected.
    polling = asyncio.Lock()
    poll_once = worker._poll_iteration

    async def poll_whole() -> None:
        async with polling:
            await poll_once()

    worker._poll_iteration = poll_whole  # type: ignore[method-assign]
    running = asyncio.create_task(worker.main())
    try:
        yield
    finally:
        worker.handle_sig(signal.SIGUSR1)  # cancels the jobs, as SIGTERM does
        async with polling:
            running.cancel()  # and the polling loop, so that no job starts after this
        await asyncio.gather(running, return_exceptions=True)
        while unfinished := [
            task for task in asyncio.all_tasks()
            if task.get_coro().__qualname__.startswith(("Worker.run_job", "Worker.finish_"))
        ]:
            await asyncio.gather(*unfinished, return_exceptions=True)
        worker.tasks.clear()
        await worker.close()


async def run_worker(settings: Settings) -> None:
    """Drains the queue with a real in-process arq worker in burst mode."""
    worker = build_worker(settings, burst=True, poll_delay=0, handle_signals=False)
    try:
        await worker.main()
    finally:
        await worker.close()

