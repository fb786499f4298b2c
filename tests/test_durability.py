"""A 202 means the message is committed in PostgreSQL, even if the API dies the next instant.

The real API process (``python -m service api``) takes a stream of reminders over several
keep-alive connections and is killed with SIGKILL (no shutdown of any kind) the moment a batch
of 202s has come back, while other requests are still in flight. PostgreSQL must then hold
every message answered with a 202, under the id the answer gave; and a request that got no
answer, sent again with its Idempotency-Key to the restarted API, is answered consistently: a
replay of the row if the dead process had committed it, a fresh 202 otherwise. The kill lands at
a different point of the stream in each cycle, so that with group commit it also falls inside a
batch being written; with ``--workers 2`` it takes every process of the API at once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest

from service.access import create_api_key
from tests.conftest import free_port
from tests.helpers import REMINDER

LANES = 8  # keep-alive connections posting side by side
ANSWER_TIMEOUT = 10.0


@dataclass
class Post:
    key: str  # its Idempotency-Key, unique in the test
    body: bytes
    status: int | None = None  # None: no answer
    message_id: str | None = None
    replayed: bool = False


@dataclass
class Stream:
    """The posts of one cycle and the kill that ends it."""

    api: subprocess.Popen[bytes]
    kill_after: int
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])  # begins its posts' keys
    posts: list[Post] = field(default_factory=list)
    accepted: int = 0
    in_flight_at_kill: int | None = None  # None: not killed yet


def _post(key: str) -> Post:
    body = json.dumps({**REMINDER, "to": f"patient+{key}@example.org"}).encode()
    return Post(key, body)


def _request(api_key: str, post: Post) -> bytes:
    return (f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {api_key}\r\nContent-Type: application/json\r\n"
            f"Idempotency-Key: {post.key}\r\nContent-Length: {len(post.body)}\r\n\r\n"
            ).encode() + post.body


async def _answer(reader: asyncio.StreamReader, post: Post) -> None:
    """Reads one HTTP/1.1 response into ``post``; raises if the connection ends first."""
    status_line = await reader.readuntil(b"\r\n")
    headers = {}
    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    post.status = int(status_line.split()[1])
    if post.status == 202:
        post.message_id = json.loads(body)["id"]
        post.replayed = headers.get("idempotent-replayed") == "true"


async def _lane(stream: Stream, port: int, api_key: str, lane: int) -> None:
    """Posts until the connection dies; kills the API at the stream's ``kill_after``-th 202."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            post = _post(f"{stream.tag}-{lane}-{len(stream.posts)}")
            stream.posts.append(post)
            writer.write(_request(api_key, post))
            await writer.drain()
            await asyncio.wait_for(_answer(reader, post), ANSWER_TIMEOUT)
            assert post.status == 202, post
            stream.accepted += 1
            if stream.accepted == stream.kill_after:
                # At once, before any other lane runs: their posts are the requests in flight.
                stream.in_flight_at_kill = sum(1 for p in stream.posts if p.status is None)
                os.killpg(stream.api.pid, signal.SIGKILL)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        # The API is gone: this lane's last post has no answer. Before the kill, a connection
        # the API dropped is a failure of its own.
        assert stream.in_flight_at_kill is not None, f"lane {lane} lost its connection"
    finally:
        await _close(writer)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):  # reset by the killed peer
        await writer.wait_closed()


class Api:
    """``python -m service api`` in a session (process group) of its own, so that a kill takes
    every process it runs (uvicorn's workers, with --workers)."""

    def __init__(self, tmp_path: Path, env: dict[str, str], extra: list[str]) -> None:
        self.tmp_path, self.env, self.extra = tmp_path, env, extra
        self.logs: list[Path] = []

    @asynccontextmanager
    async def running(self) -> AsyncIterator[tuple[subprocess.Popen[bytes], int]]:
        """Started and ready. On a new port each time (the killed one's may linger in
        TIME_WAIT), and again on another if something took the free port before the API could
        bind it."""
        for _ in range(3):
            port = free_port()
            process = self._start(port)
            try:
                if await self._ready(process, port):
                    yield process, port
                    return
            finally:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
                process.wait(30)
        raise AssertionError(f"no free port for the API\n{self.output()}")

    def _start(self, port: int) -> subprocess.Popen[bytes]:
        log = self.tmp_path / f"api-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as sink:
            return subprocess.Popen(
                [sys.executable, "-m", "service", "api", "--port", str(port), *self.extra],
                cwd=self.tmp_path, env=self.env, stdout=sink, stderr=subprocess.STDOUT,
                start_new_session=True)

    async def _ready(self, process: subprocess.Popen[bytes], port: int) -> bool:
        """True once it answers /readyz; False if it found its port taken."""
        async with httpx.AsyncClient() as probe:
            for _ in range(300):
                if process.poll() is not None:
                    assert "is not available" in self.logs[-1].read_text(), (
                        f"exit {process.returncode}\n{self.output()}")
                    return False
                try:
                    if (await probe.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        return True
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError(f"the API did not become ready\n{self.output()}")

    def output(self) -> str:
        return "\n".join(log.read_text(errors="replace")[-3000:] for log in self.logs)


async def _stored(db: asyncpg.Connection) -> dict[str, str]:
    rows = await db.fetch("SELECT idempotency_key, id FROM messages")
    return {r["idempotency_key"]: str(r["id"]) for r in rows}


async def _retry(port: int, api_key: str, posts: list[Post]) -> list[Post]:
    """Each post again, same key and body, one after another on one connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    again = []
    try:
        for post in posts:
            retry = Post(post.key, post.body)
            writer.write(_request(api_key, retry))
            await writer.drain()
            await asyncio.wait_for(_answer(reader, retry), ANSWER_TIMEOUT)
            again.append(retry)
    finally:
        await _close(writer)
    return again


@pytest.mark.usefixtures("clean_db")  # the database's index key is sealed under this keyring
# kills: 202s before each; uneven, so that they fall at different points of any batching. Two
# workers start slowly, so they are killed once.
@pytest.mark.parametrize(("extra", "kills"), [([], (120, 77)), (["--workers", "2"], (203,))],
                         ids=["one-process", "two-workers"])
async def test_every_202_survives_a_sigkill_and_unanswered_retries_answer_consistently(
    tmp_path: Path, database_url: str, redis_url: str, extra: list[str], kills: tuple[int, ...],
) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    assert pool is not None
    api_key = await create_api_key(pool, "sender", "durability")
    await pool.close()
    environment = {k: v for k, v in os.environ.items() if k not in ("API_PORT", "DEV_RELAY_PORT")}
    api = Api(tmp_path, {
        **environment, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "QUEUE_NAME": f"test-queue-{uuid.uuid4().hex}", "LOG_LEVEL": "WARNING",
        # The same keyring for every process of the test: each opens what the last one sealed.
        "MASTER_KEYS": "d1:" + base64.b64encode(os.urandom(32)).decode(),
        "RATE_LIMIT_SENDER": "0",  # a burst beyond a key's default limit is the point here
    }, extra)
    db = await asyncpg.connect(database_url)
    unanswered: list[Post] = []
    try:
        for kill_after in [*kills, None]:  # the last start only answers the retries
            async with api.running() as (process, port):
                if unanswered:
                    await _check_retries(db, port, api_key, unanswered)
                if kill_after is None:
                    break
                stream = Stream(process, kill_after)
                try:
                    await asyncio.wait_for(asyncio.gather(*(
                        _lane(stream, port, api_key, lane) for lane in range(LANES))), 60)
                except AssertionError as refused:  # a post not accepted: the log says why
                    raise AssertionError(f"{refused}\n{api.output()}") from None
                assert process.wait(10) == -signal.SIGKILL, api.output()
                await _check_accepted(db, stream)
                print(f"DURABILITY killed after {stream.kill_after} 202s: answered 202 "
                      f"{stream.accepted}, in flight {stream.in_flight_at_kill}")
                unanswered = [p for p in stream.posts if p.status is None]
    finally:
        await db.close()


async def _check_accepted(db: asyncpg.Connection, stream: Stream) -> None:
    answered = {p.key: p.message_id for p in stream.posts if p.status == 202}
    assert len(answered) >= stream.kill_after
    # The kill came while requests were in flight: otherwise this proved nothing.
    assert stream.in_flight_at_kill, stream.in_flight_at_kill
    stored = await _stored(db)
    missing = {key for key, message_id in answered.items() if stored.get(key) != message_id}
    assert not missing, f"{len(missing)} of {len(answered)} messages answered 202 are not stored"
    # Nothing stored that was never sent.
    assert {k for k in stored if k.startswith(stream.tag)} <= {p.key for p in stream.posts}


async def _check_retries(db: asyncpg.Connection, port: int, api_key: str,
                         unanswered: list[Post]) -> None:
    before = await _stored(db)
    committed = sum(1 for post in unanswered if post.key in before)
    # Seen with -s: whether this run's kills left committed messages unanswered (replays).
    print(f"DURABILITY unanswered={len(unanswered)} committed_unanswered={committed}")
    retries = await _retry(port, api_key, unanswered)
    after = await _stored(db)
    for retry in retries:
        assert retry.status == 202, retry
        if retry.key in before:  # the killed process had committed it: the same message
            assert retry.replayed and retry.message_id == before[retry.key], retry
        else:  # it had not: accepted now, as a new message
            assert not retry.replayed and after[retry.key] == retry.message_id, retry
