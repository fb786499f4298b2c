"""Scheduled and cancellable sends, end to end: real arq worker, PostgreSQL and STARTTLS relay."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from dataclasses import replace
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette

from service.access import create_api_key
from service.core.config import Settings
from service.db.queries import QUERIES
from service.devtools.relay import Mailbox
from tests.conftest import background_worker, empty_redis, run_worker
from tests.helpers import REMINDER, auth, send
from tests.test_delivery import status_of

PROBLEMS = "https://hipaa-mail.dev/problems/"
SWEEP_SECONDS = 5


def rfc3339(moment: dt.datetime, offset_hours: int = -5) -> str:
    """As a clinic system in another zone would write it."""
    return moment.astimezone(dt.timezone(dt.timedelta(hours=offset_hours))).isoformat()


async def schedule(client: httpx.AsyncClient, key: str, seconds: float,
                   **fields: Any) -> tuple[str, dt.datetime, float]:
    """Sends a reminder due ``seconds`` from now; its id, send_at and send_at on the monotonic
    clock the relay stamps deliveries with."""
    send_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
    monotonic_send_at = time.monotonic() + seconds
    response = await send(client, key, {**REMINDER, "send_at": rfc3339(send_at), **fields})
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "scheduled"
    return response.json()["id"], send_at, monotonic_send_at


async def test_a_scheduled_message_is_delivered_after_send_at_never_before(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    redis_client: aioredis.Redis,
) -> None:
    message_id, send_at, monotonic_send_at = await schedule(client, keys["sender"], 5)
    status = await status_of(client, keys["sender"], message_id)
    assert status["status"] == "scheduled"
    assert dt.datetime.fromisoformat(status["send_at"]) == send_at

    # A worker that drains everything due before send_at sends nothing.
    await run_worker(settings)
    assert mailbox.messages == []
    assert (await status_of(client, keys["sender"], message_id))["status"] == "scheduled"

    # No job waits in Redis for send_at: the worker's sweep, every 5 s, finds the message due.
    await empty_redis(redis_client)
    async with background_worker(settings):
        deadline = time.monotonic() + 15
        while not mailbox.messages:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    assert monotonic_send_at <= mailbox.accepted_at[0] < monotonic_send_at + SWEEP_SECONDS + 1
    status = await status_of(client, keys["sender"], message_id)
    assert status["status"] == "sent"
    assert dt.datetime.fromisoformat(status["sent_at"]) >= send_at


async def test_a_cancelled_message_is_never_delivered_and_its_content_is_gone(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    scheduled, _, monotonic_send_at = await schedule(client, keys["sender"], 1)
    queued = (await send(client, keys["sender"], {**REMINDER, "to": "q@example.org"})).json()["id"]
    for message_id in (scheduled, queued):
        response = await client.delete(f"/v1/messages/{message_id}", headers=auth(keys["sender"]))
        assert response.status_code == 200, response.text
        assert response.json() == {"id": message_id, "status": "cancelled"}
        # Asked again (a retry after a lost answer): the same answer, nothing more recorded.
        again = await client.delete(f"/v1/messages/{message_id}", headers=auth(keys["sender"]))
        assert (again.status_code, again.json()) == (200, response.json())

    await asyncio.sleep(max(0.0, monotonic_send_at - time.monotonic()) + 0.2)
    await run_worker(settings)
    assert mailbox.messages == []
    db = app.state.resources.db
    for message_id in (scheduled, queued):
        assert (await status_of(client, keys["sender"], message_id))["status"] == "cancelled"
        row = await db.fetchrow(
            "SELECT content_sealed, token_sealed, verification_hash FROM messages WHERE id = $1",
            uuid.UUID(message_id))
        assert dict(row) == {"content_sealed": None, "token_sealed": None,
                             "verification_hash": None}
    audits = await db.fetch("SELECT actor, object_id, outcome, detail FROM audit_log"
                            " WHERE action = 'message.cancel' ORDER BY id")
    assert [(r["object_id"], r["outcome"], r["detail"]) for r in audits] == [
        (scheduled, "cancelled", "treatment"), (queued, "cancelled", "treatment")]
    events = await db.fetch("SELECT status FROM message_events WHERE message_id = $1 ORDER BY id",
                            uuid.UUID(scheduled))
    assert [e["status"] for e in events] == ["scheduled", "cancelled"]


async def test_a_message_already_sent_cannot_be_cancelled(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> None:
    message_id = (await send(client, keys["sender"])).json()["id"]
    await run_worker(settings)
    assert len(mailbox.messages) == 1
    response = await client.delete(f"/v1/messages/{message_id}", headers=auth(keys["sender"]))
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == PROBLEMS + "message-not-cancellable"
    assert problem["message_status"] == "sent"
    assert (await status_of(client, keys["sender"], message_id))["status"] == "sent"


async def test_only_the_sending_key_may_cancel(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    message_id, _, _ = await schedule(client, keys["sender"], 60)
    other = await create_api_key(app.state.resources.db, "sender", "another EHR")
    url = f"/v1/messages/{message_id}"
    assert (await client.delete(url, headers=auth(other))).status_code == 404
    assert (await client.delete(url, headers=auth(keys["marketer"]))).status_code == 403
    assert (await client.delete(url)).status_code == 401
    unknown = await client.delete(f"/v1/messages/{uuid.uuid4()}", headers=auth(keys["sender"]))
    assert unknown.status_code == 404
    assert (await status_of(client, keys["sender"], message_id))["status"] == "scheduled"


async def test_the_database_decides_between_a_claim_and_a_cancel(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], database_url: str,
) -> None:
    first = (await send(client, keys["sender"])).json()["id"]
    conn = await asyncpg.connect(database_url)
    try:
        # A worker's claim holds the row: the cancel waits for it, then finds it being sent.
        async with conn.transaction():
            claimed = await conn.fetch(QUERIES.claim_due_messages, 10, 60.0)
            assert [str(r["id"]) for r in claimed] == [first]
            cancel = asyncio.create_task(
                client.delete(f"/v1/messages/{first}", headers=auth(keys["sender"])))
            await asyncio.sleep(0.5)
            assert not cancel.done()
        response = await cancel
        assert response.status_code == 409
        assert response.json()["message_status"] == "sending"

        # A cancel holds the row: the claim skips it, and after the commit it is never due.
        second = (await send(client, keys["sender"])).json()["id"]
        key_id = await conn.fetchval("SELECT api_key_id FROM messages WHERE id = $1",
                                     uuid.UUID(second))
        async with conn.transaction():
            assert await conn.fetchrow(QUERIES.cancel_message, uuid.UUID(second), key_id)
            assert await app.state.resources.db.fetch(QUERIES.claim_due_messages, 10, 60.0) == []
        assert await app.state.resources.db.fetch(QUERIES.claim_due_messages, 10, 60.0) == []
    finally:
        await conn.close()


async def test_a_subject_no_longer_allowed_when_due_is_rejected_not_sent(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    message_id, _, monotonic_send_at = await schedule(client, keys["sender"], 1)
    unscheduled = (await send(client, keys["sender"], {**REMINDER, "to": "now@example.org"}))
    # Since acceptance the service moved to approved subjects only, and none is approved.
    strict = replace(settings, subject_mode="allowlist")
    await asyncio.sleep(max(0.0, monotonic_send_at - time.monotonic()) + 0.2)
    await run_worker(strict)

    status = await status_of(client, keys["sender"], message_id)
    assert (status["status"], status["last_error_class"]) == ("rejected", "subject:not_approved")
    # Only a scheduled message waited long enough for the rules to change under it.
    assert [m[1] for m in mailbox.messages] == [["now@example.org"]]
    assert (await status_of(client, keys["sender"], unscheduled.json()["id"]))["status"] == "sent"
    audit = await app.state.resources.db.fetchrow(
        "SELECT outcome, detail FROM audit_log WHERE action = 'message.reject'")
    assert dict(audit) == {"outcome": "subject:not_approved", "detail": "treatment"}


async def test_a_send_at_shortly_past_goes_at_once(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> None:
    a_minute_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    response = await send(client, keys["sender"], {**REMINDER, "send_at": rfc3339(a_minute_ago)})
    assert (response.status_code, response.json()["status"]) == (202, "queued")
    assert (await status_of(client, keys["sender"], response.json()["id"]))["send_at"] is None
    await run_worker(settings)
    assert len(mailbox.messages) == 1


async def test_a_scheduled_replay_answers_as_first_accepted(
    client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    body = {**REMINDER, "send_at": rfc3339(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))}
    first = await send(client, keys["sender"], body, **{"Idempotency-Key": "reminder-1"})
    again = await send(client, keys["sender"], body, **{"Idempotency-Key": "reminder-1"})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() == {"id": first.json()["id"], "status": "scheduled"}


def _in(**delta: float) -> str:
    return rfc3339(dt.datetime.now(dt.UTC) + dt.timedelta(**delta))


@pytest.mark.parametrize("send_at", [
    "tomorrow", "2030-01-31", "2030-01-31T09:30:00", "2030-01-31T09:30",
    "2030-02-30T09:30:00Z", "2030-01-31T09:30:00+25:00", 1767225600, True, [],
    # Offsets, made a time when the test runs: collected minutes earlier, they would drift.
    dt.timedelta(days=30, minutes=5), dt.timedelta(days=400), dt.timedelta(minutes=-10),
], ids=["words", "date-only", "no-offset", "no-seconds", "no-such-day", "bad-offset", "number",
        "boolean", "array", "past-the-horizon", "a-year-ahead", "long-past"])
async def test_a_bad_send_at_is_a_422_naming_it(
    client: httpx.AsyncClient, keys: dict[str, str], send_at: Any,
) -> None:
    if isinstance(send_at, dt.timedelta):
        send_at = rfc3339(dt.datetime.now(dt.UTC) + send_at)
    response = await send(client, keys["sender"], {**REMINDER, "send_at": send_at})
    assert response.status_code == 422, response.text
    assert response.json()["fields"] == ["send_at"]
    assert str(send_at) not in response.text


async def test_a_send_at_within_the_horizon_is_taken(
    client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    in_a_minute = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    for send_at in (_in(days=29, hours=23), in_a_minute.strftime("%Y-%m-%dT%H:%M:%SZ"), None):
        response = await send(client, keys["sender"], {**REMINDER, "send_at": send_at})
        assert response.status_code == 202, (send_at, response.text)
