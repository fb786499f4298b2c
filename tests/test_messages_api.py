"""POST/GET /v1/messages: authentication, roles, validation, idempotency, outbox."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette

from service.core.config import Settings
from service.core.crypto import check_answer
from tests.conftest import serving
from tests.helpers import REMINDER, auth, send

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["type"].endswith("/" + slug)
    assert body["status"] == status
    return body


async def test_accepts_a_reminder_and_queues_it(
    client: httpx.AsyncClient, keys: dict[str, str], app: Starlette
) -> None:
    response = await send(client, keys["sender"])
    assert response.status_code == 202
    message_id = response.json()["id"]
    assert response.headers["location"] == f"/v1/messages/{message_id}"
    status = await client.get(f"/v1/messages/{message_id}", headers=auth(keys["sender"]))
    assert status.status_code == 200
    assert status.json()["status"] == "queued"
    assert status.json()["attempts"] == 0
    assert "content" not in status.json() and "to" not in status.json()
    # The queue holds a payload-free delivery job, never the message.
    redis = app.state.resources.redis
    queued = await redis.zrange(app.state.resources.settings.queue_name, 0, -1)
    assert len(queued) == 1 and queued[0].startswith(b"deliver-due:")


@pytest.mark.parametrize("header", [None, "Bearer nope", "Bearer hm_0123456789abcdef_wrong",
                                    "Basic dXNlcjpwYXNz"])
async def test_requests_without_a_valid_key_get_401(
    client: httpx.AsyncClient, keys: dict[str, str], header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = await client.post("/v1/messages", json=REMINDER, headers=headers)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_secret_half_of_a_key_is_checked(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    forged = keys["sender"][:-4] + ("AAAA" if not keys["sender"].endswith("AAAA") else "BBBB")
    assert_problem(await send(client, forged), 401, "unauthorized")


@pytest.mark.parametrize("role", ["marketer", "admin"])
async def test_other_roles_may_not_send_or_read_messages(
    client: httpx.AsyncClient, keys: dict[str, str], role: str
) -> None:
    assert_problem(await send(client, keys[role]), 403, "forbidden")
    created = (await send(client, keys["sender"])).json()["id"]
    response = await client.get(f"/v1/messages/{created}", headers=auth(keys[role]))
    assert_problem(response, 403, "forbidden")


async def test_a_sender_sees_only_its_own_messages(
    client: httpx.AsyncClient, keys: dict[str, str], app: Starlette
) -> None:
    from service.access import create_api_key

    other = await create_api_key(app.state.resources.db, "sender", "other system")
    created = (await send(client, keys["sender"])).json()["id"]
    response = await client.get(f"/v1/messages/{created}", headers=auth(other))
    assert_problem(response, 404, "not-found")
    response = await client.get("/v1/messages/not-a-uuid", headers=auth(keys["sender"]))
    assert_problem(response, 404, "not-found")


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"to": "not-an-address"}, ["to"]),
        ({"to": "a@b"}, ["to"]),
        ({"to": "x\r\nBcc: evil@example.org@example.org"}, ["to"]),
        ({"purpose": "sales"}, ["purpose"]),
        ({"content": "   "}, ["content"]),
        ({"content": 42}, ["content"]),
        ({"verification": ""}, ["verification"]),
        ({"surprise": 1}, ["surprise"]),
        ({"verification_hint": "your date of birth"}, ["verification_hint"]),
        ({"verification_format": "date"}, ["verification_format"]),
        ({"verification": "1980-03-14", "verification_format": "datetime"},
         ["verification_format"]),
        ({"verification": "1980-03-14", "verification_format": None}, ["verification_format"]),
        ({"verification": "03/14/1980", "verification_format": "date"}, ["verification"]),
        ({"verification": "1980-02-30", "verification_format": "date"}, ["verification"]),
        ({"verification": "x1", "verification_hint": "  "}, ["verification_hint"]),
        ({"verification": "x1", "verification_hint": "a" * 81}, ["verification_hint"]),
        ({"verification": "x1", "verification_hint": 7}, ["verification_hint"]),
        # The hint must not give the answer away, however it is spaced or cased.
        ({"verification": "Blue Heron", "verification_hint": "the bird: blueheron"},
         ["verification_hint"]),
        ({"verification": "1980-03-14", "verification_format": "date",
          "verification_hint": "Birthday (1980-03-14)"}, ["verification_hint"]),
        ({"verification": "1980-03-14", "verification_format": "date",
          "verification_hint": "your birthday in 1980"}, ["verification_hint"]),
    ],
)
async def test_invalid_fields_get_422_naming_the_field(
    client: httpx.AsyncClient, keys: dict[str, str], change: dict[str, Any], fields: list[str]
) -> None:
    body = {**REMINDER, **change}
    problem = assert_problem(await send(client, keys["sender"], body), 422, "invalid-request")
    assert problem["fields"] == fields


async def test_missing_fields_are_listed(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    problem = assert_problem(await send(client, keys["sender"], {"to": "a@example.org"}), 422,
                             "invalid-request")
    assert problem["fields"] == ["content", "purpose", "subject"]


# NUL, which nothing can store, is refused before the gate (tests/test_hostile_input.py).
@pytest.mark.parametrize("subject", ["Reminder\r\nBcc: someone@example.org", "Reminder\x07",
                                     "Time for your HIV follow-up"])
async def test_unsafe_subjects_are_refused_without_echo(
    client: httpx.AsyncClient, keys: dict[str, str], subject: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = await send(client, keys["sender"], {**REMINDER, "subject": subject})
    problem = assert_problem(response, 422, "subject-not-generic")
    assert problem["category"] in ("format", "condition")
    assert subject not in response.text and "HIV" not in response.text
    assert "HIV" not in caplog.text


async def test_a_refused_subject_says_where_and_strict_mode_refuses_unknown_words(
    settings: Settings, keys: dict[str, str],
) -> None:
    subject = "Your Xyloquent follow-up"  # a coinage: nothing the detector knows
    async with serving(replace(settings, subject_mode="detector")) as (_, client):
        assert (await send(client, keys["sender"], {**REMINDER, "subject": subject})
                ).status_code == 202
        refused = await send(client, keys["sender"],
                             {**REMINDER, "subject": "Time for your H\u200bIV follow-up"})
        problem = assert_problem(refused, 422, "subject-not-generic")
        assert (problem["category"], problem["span"]) == ("condition", {"start": 14, "end": 18})
    async with serving(replace(settings, subject_mode="strict")) as (_, client):
        strict = await send(client, keys["sender"], {**REMINDER, "subject": subject})
        problem = assert_problem(strict, 422, "subject-not-generic")
        assert (problem["category"], problem["span"]) == ("unknown-word", {"start": 5, "end": 14})
        assert "Xyloquent" not in strict.text
        plain = await send(client, keys["sender"],
                           {**REMINDER, "subject": "Upcoming appointment reminder"})
        assert plain.status_code == 202


HINTED = {**REMINDER, "verification": " 1980-03-14 ", "verification_format": "date",
          "verification_hint": "your date of birth"}


async def test_a_hint_and_a_date_format_are_stored_sealed_and_replayed(
    client: httpx.AsyncClient, keys: dict[str, str], app: Starlette,
) -> None:
    first = await send(client, keys["sender"], HINTED, **{"Idempotency-Key": "appt-993"})
    assert first.status_code == 202
    again = await send(client, keys["sender"], dict(reversed(list(HINTED.items()))),
                       **{"Idempotency-Key": "appt-993"})
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]
    other = await send(client, keys["sender"], {**HINTED, "verification_hint": "your birthday"},
                       **{"Idempotency-Key": "appt-993"})
    assert_problem(other, 422, "idempotency-key-reused")
    row = await app.state.resources.db.fetchrow("SELECT * FROM messages")
    assert row["verification_format"] == "date"
    assert check_answer("1980-03-14", row["verification_hash"])  # hashed as the date, trimmed
    sealed = row["verification_hint_sealed"]
    assert sealed is not None and b"date of birth" not in sealed
    # Nowhere in the row in plain text: not in the sealed column, nor in any other.
    assert not [name for name, value in row.items() if "date of birth" in str(value)
                or (isinstance(value, bytes) and b"date of birth" in value)]
    plain = await send(client, keys["sender"], {**REMINDER, "verification": "Blue Heron"})
    assert plain.status_code == 202
    formats = await app.state.resources.db.fetch(
        "SELECT verification_format, verification_hint_sealed FROM messages WHERE id = $1",
        uuid.UUID(plain.json()["id"]))
    assert [tuple(r) for r in formats] == [("text", None)]  # the default, as before


@pytest.mark.parametrize(("hint", "category"), [
    ("your HIV test result", "condition"),
    ("the name of your cardiologist", "specialty"),
    ("Pat Jones date of birth", "name"),
])
async def test_a_hint_that_is_not_generic_is_refused_without_echo(
    client: httpx.AsyncClient, keys: dict[str, str], app: Starlette, hint: str, category: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await client.post("/v1/contacts", headers=auth(keys["sender"]),
                      json={"email": REMINDER["to"], "name": "Pat Jones"})
    response = await send(client, keys["sender"], {**HINTED, "verification_hint": hint})
    problem = assert_problem(response, 422, "subject-not-generic")
    assert problem["fields"] == ["verification_hint"]
    assert problem["title"] == "The verification hint is not generic"
    assert problem["category"] == category
    start, end = problem["span"]["start"], problem["span"]["end"]
    assert hint[start:end] not in response.text and hint[start:end] not in caplog.text
    assert await app.state.resources.db.fetchval("SELECT count(*) FROM messages") == 0


async def test_oversized_bodies_get_413(
    client: httpx.AsyncClient, keys: dict[str, str], app: Starlette
) -> None:
    limits = app.state.resources.settings
    too_much_content = {**REMINDER, "content": "x" * (limits.content_max_bytes + 1)}
    assert_problem(await send(client, keys["sender"], too_much_content), 413, "content-too-large")
    huge = b'{"to": "' + b"a" * limits.body_max_bytes + b'"}'
    response = await client.post(
        "/v1/messages", content=huge,
        headers={**auth(keys["sender"]), "Content-Type": "application/json"},
    )
    assert_problem(response, 413, "payload-too-large")


async def test_malformed_json_and_wrong_media_type(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    headers = {**auth(keys["sender"]), "Content-Type": "application/json"}
    response = await client.post("/v1/messages", content=b'{"to": "secret@example.org",',
                                 headers=headers)
    problem = assert_problem(response, 400, "malformed-json")
    assert "secret@example.org" not in str(problem)
    response = await client.post("/v1/messages", content=b"to=a", headers=auth(keys["sender"]))
    assert_problem(response, 415, "unsupported-media-type")
    response = await client.post("/v1/messages", content=b"[1]", headers=headers)
    assert_problem(response, 422, "invalid-request")


async def test_marketing_without_authorization_is_refused(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    response = await send(client, keys["sender"], {**REMINDER, "purpose": "marketing",
                                                   "subject": "Our Spring Newsletter"})
    assert_problem(response, 422, "consent-required")


async def test_idempotency_key_returns_the_same_message(
    client: httpx.AsyncClient, keys: dict[str, str], app: Starlette
) -> None:
    first = await send(client, keys["sender"], REMINDER, **{"Idempotency-Key": "appt-991"})
    reordered = dict(reversed(list(REMINDER.items())))
    again = await send(client, keys["sender"], reordered, **{"Idempotency-Key": "appt-991"})
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    count = await app.state.resources.db.fetchval("SELECT count(*) FROM messages")
    assert count == 1


async def test_idempotency_key_with_another_body_is_refused(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    await send(client, keys["sender"], REMINDER, **{"Idempotency-Key": "appt-992"})
    other = {**REMINDER, "content": "something else"}
    response = await send(client, keys["sender"], other, **{"Idempotency-Key": "appt-992"})
    assert_problem(response, 422, "idempotency-key-reused")


async def test_concurrent_requests_with_one_idempotency_key_make_one_message(
    client: httpx.AsyncClient, keys: dict[str, str], app: Starlette
) -> None:
    import asyncio

    responses = await asyncio.gather(*(
        send(client, keys["sender"], REMINDER, **{"Idempotency-Key": "burst"}) for _ in range(8)
    ))
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await app.state.resources.db.fetchval("SELECT count(*) FROM messages") == 1


async def test_accepted_message_survives_redis_being_down(
    client: httpx.AsyncClient, keys: dict[str, str], app: Starlette,
    redis_client: aioredis.Redis,
) -> None:
    """The outbox row commits before the enqueue; a failed enqueue still answers 202."""
    resources = app.state.resources
    broken = await _unreachable_redis()
    object.__setattr__(resources, "redis", broken)
    response = await send(client, keys["sender"])
    assert response.status_code == 202
    row = await resources.db.fetchrow("SELECT status FROM messages")
    assert row["status"] == "queued"


async def _unreachable_redis() -> Any:
    from arq.connections import ArqRedis

    return ArqRedis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)


async def test_unknown_routes_and_methods_are_problems(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/nope"), 404, "not-found")
    assert_problem(await client.delete("/v1/messages"), 405, "method-not-allowed")


async def test_an_internal_fault_is_a_bare_500_without_traceback_or_phi(
    client: httpx.AsyncClient, keys: dict[str, str], app: Starlette,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A real fault: the messages table vanishes under a running API."""
    db = app.state.resources.db
    await send(client, keys["sender"])  # authenticate once, so the fault is in the insert
    await db.execute("ALTER TABLE messages RENAME TO messages_elsewhere")
    try:
        response = await send(client, keys["sender"], {**REMINDER, "to": "fault@example.org"})
    finally:
        await db.execute("ALTER TABLE messages_elsewhere RENAME TO messages")
    problem = assert_problem(response, 500, "internal-error")
    assert set(problem) == {"type", "title", "status"}
    assert "Traceback" not in caplog.text
    assert "fault@example.org" not in caplog.text
    assert any("unhandled" in r.getMessage() for r in caplog.records)
