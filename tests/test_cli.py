"""The operator's verbs as an operator runs them: a separate process, from a directory of its own,
reading its settings from the environment."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
from starlette.applications import Starlette

from service.core.config import Settings
from service.db.migrations import head
from service.worker import heartbeat, serve
from tests.admin_session import key_id
from tests.conftest import free_port
from tests.helpers import REMINDER, auth


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("API_PORT", "DEV_RELAY_PORT")}
    return subprocess.run(
        [sys.executable, "-m", "service", *args], cwd=tmp_path, env={**environment, **env},
        capture_output=True, text=True, timeout=60, check=False,
    )


def test_version_names_the_release_and_the_newest_migration(tmp_path: Path) -> None:
    done = run(tmp_path, "version")
    assert done.returncode == 0
    assert done.stdout.startswith("hipaa-mail 0.") and f"migrations up to {head()}" in done.stdout


def test_worker_check_follows_the_heartbeat(tmp_path: Path) -> None:
    beat = tmp_path / "beat"
    missing = run(tmp_path, "worker", "--check", WORKER_HEARTBEAT_FILE=str(beat))
    assert missing.returncode == 1 and "WORKER_HEARTBEAT_FILE" in missing.stderr
    beat.touch()
    assert run(tmp_path, "worker", "--check", WORKER_HEARTBEAT_FILE=str(beat)).returncode == 0
    old = time.time() - heartbeat.STALE_SECONDS - 5
    os.utime(beat, (old, old))
    stale = run(tmp_path, "worker", "--check", WORKER_HEARTBEAT_FILE=str(beat))
    assert stale.returncode == 1 and "stuck" in stale.stderr


async def test_a_running_worker_keeps_its_heartbeat_fresh_and_stops_on_sigterm(
    settings: Settings,
) -> None:
    path = Path(settings.worker_heartbeat_file)
    running = asyncio.create_task(serve(settings))
    try:
        for _ in range(100):
            if path.exists():  # noqa: ASYNC240
                break
            await asyncio.sleep(0.05)
        assert heartbeat.check(path) is None
        old = time.time() - heartbeat.STALE_SECONDS - 5
        os.utime(path, (old, old))
        await asyncio.sleep(heartbeat.BEAT_SECONDS + 0.5)
        assert heartbeat.check(path) is None  # touched again by the live loop
        os.kill(os.getpid(), signal.SIGTERM)  # serve() handles it: this process lives on
        await asyncio.wait_for(running, 15)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_a_worker_started_without_redis_keeps_beating_and_starts_when_redis_answers(
    settings: Settings, tmp_path: Path,
) -> None:
    port = free_port()
    path = Path(settings.worker_heartbeat_file)
    running = asyncio.create_task(serve(replace(settings, redis_url=f"redis://127.0.0.1:{port}/0")))
    redis = None
    try:
        await asyncio.sleep(heartbeat.BEAT_SECONDS + 2)  # arq alone would have exited by now
        assert not running.done() and heartbeat.check(path) is None
        redis = subprocess.Popen(  # noqa: ASYNC220 - started, not waited for
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, cwd=tmp_path)
        for _ in range(200):  # the arq worker registers its health-check key once it runs
            if await _answers(port, f"{settings.queue_name}:health-check"):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the worker never started against the Redis that came back")
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(running, 15)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        if redis is not None:
            redis.kill()
            redis.wait(10)


async def _answers(port: int, key: str) -> bool:
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    client = aioredis.Redis(host="127.0.0.1", port=port)
    try:
        return bool(await client.exists(key))
    except RedisError:
        return False
    finally:
        await client.aclose()


def test_api_check_fails_when_nothing_answers(tmp_path: Path) -> None:
    done = run(tmp_path, "api", "--check", API_PORT=str(free_port()))
    assert done.returncode == 1 and "/readyz" in done.stderr


def test_a_busy_port_is_one_line_naming_its_setting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for verb, variable in (("api", "API_PORT"), ("dev", "API_PORT"), ("dev", "DEV_RELAY_PORT")):
            env = {"API_PORT": str(free_port()), "DEV_RELAY_PORT": str(free_port()),
                   variable: str(port)}
            done = run(tmp_path, verb, **env)
            assert done.returncode == 2, done.stderr
            assert done.stderr.strip().splitlines()[-1] == (
                f"configuration error: {variable}: port {port} on 127.0.0.1 is not available"
                f" (Address already in use); set {variable} to a free port"), done.stderr
            assert "Traceback" not in done.stderr


async def test_api_workers_serve_one_port_each_with_its_own_state(
    app: Starlette, keys: dict[str, str], settings: Settings, tmp_path: Path,
) -> None:
    """``api --workers 2``: two processes behind one port, each with its own pool and key
    listener; a key revoked through one is refused by both, as across replicas."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("API_PORT", "DEV_RELAY_PORT")}
    env.update(DATABASE_URL=settings.database_url, REDIS_URL=settings.redis_url,
               QUEUE_NAME=settings.queue_name, LOG_LEVEL="WARNING", MASTER_KEYS=",".join(
                   f"{kid}:{base64.b64encode(key).decode()}"
                   for kid, key in settings.keyring.keys.items()))
    with (tmp_path / "api.log").open("wb") as log:
        server = subprocess.Popen(  # noqa: ASYNC220 - started, not waited for
            [sys.executable, "-m", "service", "api", "--workers", "2", "--port", str(port)],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    db = app.state.resources.db
    listeners = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                 " AND application_name = 'hipaa-mail key events'")
    base = f"http://127.0.0.1:{port}"
    try:
        already = await db.fetchval(listeners)  # the test's own app listens too
        async with asyncio.timeout(60):
            while await db.fetchval(listeners) < already + 2:
                assert server.poll() is None, (tmp_path / "api.log").read_text()
                await asyncio.sleep(0.1)
        assert len(_serving_children(server.pid)) == 2

        async def post_each_on_a_new_connection(n: int) -> set[int]:
            statuses = set()
            for i in range(n):
                async with httpx.AsyncClient(base_url=base) as fresh:
                    statuses.add((await fresh.post("/v1/messages", headers=auth(keys["sender"]),
                                                   json={**REMINDER, "to": f"w{i}@example.org"}
                                                   )).status_code)
            return statuses

        assert await post_each_on_a_new_connection(10) == {202}
        assert await db.fetchval("SELECT count(*) FROM messages") == 10
        async with httpx.AsyncClient(base_url=base) as admin:
            revoked = await admin.post(f"/v1/keys/{key_id(keys['sender'])}/revoke",
                                       headers=auth(keys["admin"]))
            assert revoked.status_code == 200, revoked.text
        assert await post_each_on_a_new_connection(10) == {401}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


def _serving_children(pid: int) -> list[str]:
    """The processes uvicorn spawned to serve (not its multiprocessing helpers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [child for child in children
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()]
