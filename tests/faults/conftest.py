"""Fixtures of the fault tests: one PostgreSQL cluster for the session (initdb once), and per test
its own database, Redis server, STARTTLS relay and service processes, all on 127.0.0.1 and all
owned by the test run, so that stopping them never touches the machine's shared servers."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from service.devtools.certs import CertFiles
from tests.faults.harness import PgCluster, RedisServer, Relay, Service, owned_tmpdir


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    root = owned_tmpdir("hipaa-faults-pg-")
    cluster = PgCluster(root)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            if cluster.running():
                cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg(pg_cluster: PgCluster) -> PgCluster:
    pg_cluster.ensure_running()
    return pg_cluster


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """Started; a test may kill it and start it again (on the same port, empty)."""
    root = Path(tempfile.mkdtemp(prefix="hipaa-faults-redis-"))
    server = RedisServer(root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def relay(pki: CertFiles) -> Iterator[Relay]:
    """Started, with an empty mailbox; a test may stop it (connections refused) and start it."""
    server = Relay(pki)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def svc(pg: PgCluster, redis_server: RedisServer, relay: Relay,
              tmp_path: Path) -> AsyncIterator[Service]:
    """The test's own database, migrated by ``python -m service migrate``, with an API key of
    each role; the test starts the api and worker processes, teardown stops them."""
    database = f"faults_{uuid.uuid4().hex[:12]}"
    await pg.sql(f'CREATE DATABASE "{database}"')
    service = Service(tmp_path, pg, redis_server, relay, database)
    try:
        service.migrate()
        await service.make_keys()
        yield service
    finally:
        service.stop()
        with contextlib.suppress(Exception):
            pg.ensure_running()
            await pg.sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
