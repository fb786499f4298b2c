"""Group commit of accepted messages (``messages/group_commit.py``, ``core/batching.py``):
requests arriving together share a read, an INSERT and a commit, and a 202 still means the row
is in PostgreSQL. Against the real database; faults are real ones (a lock, a terminated
backend, a constraint), not mocks."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import replace

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette

from service.core.batching import Batcher
from service.core.config import Settings
from service.db.outage import is_outage
from service.db.resources import Resources
from service.http.app import create_app
from service.messages.group_commit import AcceptBatches
from service.messages.outbox import Outgoing, Row, row_of
from tests.helpers import REMINDER, api_key_id, send
from tests.test_messages_api import assert_problem


def _row(settings: Settings, api_key_id: uuid.UUID, n: int, *, subject: str = "Reminder",
         idempotency_key: str | None = None) -> Row:
    return row_of(settings.keyring, Outgoing(
        api_key_id=api_key_id, purpose="treatment", subject=subject,
        recipient=f"p{n}@example.org", recipient_index=uuid.uuid4().bytes, content=f"c{n}",
        idempotency_key=idempotency_key,
        request_digest=b"digest" if idempotency_key is not None else None,
    ))


async def _until(condition: Callable[[], object], what: str, seconds: float = 10) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - plain counters, no event to wait on
            await asyncio.sleep(0.005)
    assert condition(), what


async def _until_waiting_on_lock(db: asyncpg.Pool, waiting: int = 1) -> None:
    async with asyncio.timeout(10):
        while await _waiting_on_lock(db) < waiting:  # noqa: ASYNC110 - no event for lock waits
            await asyncio.sleep(0.005)


async def _waiting_on_lock(db: asyncpg.Pool) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'")
    return count


async def test_concurrent_requests_share_commits_and_every_202_is_in_postgres(
    client: httpx.AsyncClient, keys: dict[str, str], app: Starlette,
) -> None:
    bodies = [{**REMINDER, "to": f"patient{n}@example.org"} for n in range(60)]
    responses = await asyncio.gather(*(send(client, keys["sender"], body) for body in bodies))
    assert {r.status_code for r in responses} == {202}
    writes = app.state.accept_batches.writes
    assert writes.items == 60
    assert writes.batches < 60 / 4, writes.batches  # commits, each holding several requests
    db = app.state.resources.db
    ids = [uuid.UUID(r.json()["id"]) for r in responses]
    stored = await db.fetchval(
        "SELECT count(*) FROM messages m JOIN message_events e ON e.message_id = m.id"
        " WHERE m.id = ANY($1::uuid[]) AND m.status = 'queued' AND e.status = 'queued'", ids)
    assert stored == 60


async def test_a_reused_idempotency_key_in_a_burst_fails_only_its_own_request(
    client: httpx.AsyncClient, keys: dict[str, str], app: Starlette,
) -> None:
    others = [send(client, keys["sender"], {**REMINDER, "to": f"p{n}@example.org"})
              for n in range(10)]
    same = [send(client, keys["sender"], REMINDER, **{"Idempotency-Key": "burst"})
            for _ in range(3)]
    reused = send(client, keys["sender"], {**REMINDER, "content": "Another body"},
                  **{"Idempotency-Key": "burst"})
    *answers, other_body = await asyncio.gather(*others, *same, reused)
    assert {r.status_code for r in answers[:10]} == {202}
    # One key, one body: whichever body came first is accepted once, the other refused.
    if other_body.status_code == 202:
        for refused in answers[10:]:
            assert_problem(refused, 422, "idempotency-key-reused")
    else:
        assert_problem(other_body, 422, "idempotency-key-reused")
        assert {r.status_code for r in answers[10:]} == {202}
        assert len({r.json()["id"] for r in answers[10:]}) == 1
        assert [r.headers.get("idempotent-replayed") for r in answers[10:]].count("true") == 2
    assert await app.state.resources.db.fetchval("SELECT count(*) FROM messages") == 11


async def test_a_repeated_idempotency_key_within_one_batch_is_answered_row_by_row(
    app: Starlette, keys: dict[str, str],
) -> None:
    res: Resources = app.state.resources
    key_id = await api_key_id(res.db)
    batches = AcceptBatches(res)
    rows = [_row(res.settings, key_id, n) for n in range(3)]
    rows += [_row(res.settings, key_id, n, idempotency_key="same") for n in (3, 4)]
    results = await asyncio.gather(*(batches.insert(row) for row in rows))
    assert batches.writes.batches == 1  # all five in one INSERT
    assert results[:4] == [row.id for row in rows[:4]]
    assert results[4] is None  # its caller answers as a replay of the first
    assert await res.db.fetchval("SELECT count(*) FROM messages") == 4


async def test_a_row_the_database_refuses_fails_only_its_own_request(
    app: Starlette, keys: dict[str, str],
) -> None:
    res: Resources = app.state.resources
    key_id = await api_key_id(res.db)
    await res.db.execute("ALTER TABLE messages ADD CONSTRAINT test_refused_subject"
                         " CHECK (subject <> 'Refused') NOT VALID")
    try:
        batches = AcceptBatches(res)
        rows = [_row(res.settings, key_id, n, subject="Refused" if n == 2 else "Reminder")
                for n in range(5)]
        results = await asyncio.gather(*(batches.insert(row) for row in rows),
                                       return_exceptions=True)
    finally:
        await res.db.execute("ALTER TABLE messages DROP CONSTRAINT test_refused_subject")
    assert batches.writes.batches == 1
    assert isinstance(results[2], asyncpg.CheckViolationError)
    assert [results[n] for n in (0, 1, 3, 4)] == [rows[n].id for n in (0, 1, 3, 4)]
    stored = await res.db.fetch("SELECT id FROM messages")
    assert {r["id"] for r in stored} == {rows[n].id for n in (0, 1, 3, 4)}


async def test_an_outage_mid_batch_answers_503_to_each_request_and_commits_none(
    client: httpx.AsyncClient, keys: dict[str, str], app: Starlette, database_url: str,
) -> None:
    await send(client, keys["sender"])  # the key verified and cached before the fault
    db = app.state.resources.db
    before = await db.fetchval("SELECT count(*) FROM messages")
    locker = await asyncpg.connect(database_url)
    try:
        await locker.execute("BEGIN; LOCK TABLE messages IN SHARE MODE")  # holds up INSERTs only
        posting = [asyncio.create_task(send(client, keys["sender"], {
            **REMINDER, "to": f"outage{n}@example.org"})) for n in range(8)]
        writes = app.state.accept_batches.writes
        await _until(lambda: writes.items == 9, "every request's row handed to a batch")
        await _until(lambda: not writes._pending, "every batch sent")
        await _until_waiting_on_lock(db, writes.batches - 1)
        # The batches' backends die while their INSERTs wait, as in a database restart.
        await locker.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'")
        responses = await asyncio.gather(*posting)
    finally:
        await locker.close()
    for response in responses:
        assert_problem(response, 503, "service-unavailable")
        assert response.headers["retry-after"]
    assert await db.fetchval("SELECT count(*) FROM messages") == before
    assert (await send(client, keys["sender"], {**REMINDER, "to": "after@example.org"}
                       )).status_code == 202


async def test_a_client_that_goes_away_does_not_cancel_its_batch(
    app: Starlette, keys: dict[str, str], database_url: str,
) -> None:
    res: Resources = app.state.resources
    key_id = await api_key_id(res.db)
    batches = AcceptBatches(res)
    rows = [_row(res.settings, key_id, n) for n in range(4)]
    locker = await asyncpg.connect(database_url)
    try:
        await locker.execute("BEGIN; LOCK TABLE messages IN SHARE MODE")
        waiting = [asyncio.create_task(batches.insert(row)) for row in rows]
        await _until_waiting_on_lock(res.db)
        waiting[0].cancel()  # its client disconnected
        await locker.execute("ROLLBACK")
    finally:
        await locker.close()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert results[1:] == [row.id for row in rows[1:]]
    assert batches.writes.batches == 1
    # Its row was in the batch, which committed: the message exists, as when a client leaves
    # after a lone commit.
    assert await res.db.fetchval("SELECT count(*) FROM messages") == 4


async def test_shutdown_waits_for_a_batch_whose_client_left(
    settings: Settings, keys: dict[str, str], database_url: str, redis_client: aioredis.Redis,
) -> None:
    """A request's client leaves while its batch waits on a table lock. The process is told to
    stop just as the batch, committed, sends its enqueue nudge to a Redis holding writes for a
    second (CLIENT PAUSE). Shutdown waits for the batch before closing Redis and the pool: the
    message is in PostgreSQL and its nudge in Redis, as if the client had stayed."""
    application = create_app(settings)
    lifespan = contextlib.AsyncExitStack()
    await lifespan.enter_async_context(application.router.lifespan_context(application))
    locker = await asyncpg.connect(database_url)
    try:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="https://x.test") as client:
            await locker.execute("BEGIN; LOCK TABLE messages IN SHARE MODE")
            request = asyncio.create_task(send(client, keys["sender"]))
            await _until_waiting_on_lock(application.state.resources.db)
            request.cancel()  # its client went away
            await asyncio.gather(request, return_exceptions=True)
        await redis_client.execute_command("CLIENT", "PAUSE", "1000", "WRITE")
        await locker.execute("ROLLBACK")  # the batch commits, then nudges into the pause
        stopping = asyncio.create_task(lifespan.aclose())
        await asyncio.sleep(0.3)
        assert not stopping.done(), "shutdown closed the stores under a running batch"
        await stopping
    finally:
        await redis_client.execute_command("CLIENT", "UNPAUSE")
        await lifespan.aclose()  # nothing left to close unless the test failed before
        await locker.close()
    assert not [task for task in asyncio.all_tasks()
                if task.get_coro().__qualname__ == "Batcher._run_batch"]  # type: ignore[union-attr]
    assert await redis_client.keys("*deliver-due*"), "the nudge never reached Redis"
    db = await asyncpg.connect(database_url)
    try:
        assert await db.fetchval("SELECT count(*) FROM messages") == 1
    finally:
        await db.close()


async def test_draining_a_batcher_waits_for_the_batch_whose_caller_left() -> None:
    go = asyncio.Event()
    ran: list[list[int]] = []

    async def run(items: list[int]) -> list[int]:
        await go.wait()
        ran.append(items)
        return items

    batcher: Batcher[int, int] = Batcher(run, 0.001, 4)
    caller = asyncio.create_task(batcher.submit(1))
    await asyncio.sleep(0.01)
    caller.cancel()
    assert await batcher.drain(0.05) is False  # bounded, and the batch goes on
    draining = asyncio.create_task(batcher.drain(10))
    await asyncio.sleep(0.01)
    assert not draining.done()
    go.set()
    assert await draining is True
    assert ran == [[1]]


async def test_a_lone_request_never_waits_for_a_batch_to_form(
    app: Starlette, keys: dict[str, str], database_url: str,
) -> None:
    """A lone write goes at once, however long ACCEPT_BATCH_MAX_WAIT_MS; one that arrives while
    another is being written waits that long at most, not for the other."""
    res: Resources = app.state.resources
    key_id = await api_key_id(res.db)
    patient = AcceptBatches(replace(res, settings=replace(res.settings,
                                                          accept_batch_max_wait_ms=600_000)))
    async with asyncio.timeout(10):
        assert await patient.insert(_row(res.settings, key_id, 0)) is not None

    brief = AcceptBatches(replace(res, settings=replace(res.settings,
                                                        accept_batch_max_wait_ms=20)))
    locker = await asyncpg.connect(database_url)
    try:
        await locker.execute("BEGIN; LOCK TABLE messages IN SHARE MODE")
        first = asyncio.create_task(brief.insert(_row(res.settings, key_id, 1)))
        await _until(lambda: brief.writes.batches == 1, "the first write under way")
        second = asyncio.create_task(brief.insert(_row(res.settings, key_id, 2)))
        # The first is stuck behind the lock; the second goes on its own after the wait.
        await _until(lambda: brief.writes.batches == 2, "the second sent alongside")
        assert not first.done()
        await locker.execute("ROLLBACK")
    finally:
        await locker.close()
    assert None not in await asyncio.gather(first, second)


async def test_a_batcher_fills_batches_to_their_size_in_order_and_fails_them_whole() -> None:
    seen: list[list[int]] = []

    async def run(items: list[int]) -> list[int | BaseException]:
        seen.append(items)
        await asyncio.sleep(0)
        return [ValueError(n) if n == 5 else n * 10 for n in items]

    batcher: Batcher[int, int] = Batcher(run, 0.001, 4)
    results = await asyncio.gather(*(batcher.submit(n) for n in range(10)),
                                   return_exceptions=True)
    assert seen == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [r if isinstance(r, int) else "error" for r in results] == [
        0, 10, 20, 30, 40, "error", 60, 70, 80, 90]

    async def broken(items: list[int]) -> list[int | BaseException]:
        raise OSError("unreachable")

    failing: Batcher[int, int] = Batcher(broken, 0.001, 4)
    outcomes = await asyncio.gather(*(failing.submit(n) for n in range(3)),
                                    return_exceptions=True)
    assert all(isinstance(o, OSError) and is_outage(o) for o in outcomes)


@pytest.mark.parametrize("wait_ms", [0, 2])
async def test_a_batch_joins_what_arrived_in_the_same_turn(wait_ms: int) -> None:
    async def run(items: list[int]) -> list[int | BaseException]:
        return list(items)

    batcher: Batcher[int, int] = Batcher(run, wait_ms / 1000, 64)
    assert await asyncio.gather(*(batcher.submit(n) for n in range(20))) == list(range(20))
    assert batcher.batches == 1
