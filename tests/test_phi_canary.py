"""A canary put in `content` (and the recipient address) must be nowhere but behind the portal:
not in the email, not in any database column in plaintext, not in Redis, not in the logs."""

from __future__ import annotations

import logging
import uuid

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette

from service.core.config import Settings
from service.core.logs import JsonFormatter
from service.devtools.relay import Mailbox
from tests.conftest import run_worker
from tests.helpers import REMINDER, portal_token, send


async def dump_database(app: Starlette) -> str:
    db = app.state.resources.db
    tables = await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    dump = []
    for table in tables:
        rows = await db.fetch(f'SELECT t::text AS row FROM "{table["tablename"]}" t')
        dump.extend(r["row"] for r in rows)
        # bytea columns render as hex in ::text, so also look for the canary's hex form.
    return "\n".join(dump)


async def dump_redis(client: aioredis.Redis) -> bytes:
    chunks = []
    async for key in client.scan_iter():
        chunks.append(key)
        kind = (await client.type(key)).decode()
        if kind == "string":
            chunks.append(await client.get(key) or b"")
        elif kind == "zset":
            chunks.extend(await client.zrange(key, 0, -1))
        elif kind == "hash":
            for k, v in (await client.hgetall(key)).items():
                chunks.extend((k, v))
        elif kind == "list":
            chunks.extend(await client.lrange(key, 0, -1))
        elif kind == "set":
            chunks.extend(await client.smembers(key))
    return b"\n".join(chunks)


async def test_canary_is_only_behind_the_portal(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    app: Starlette, redis_client: aioredis.Redis, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    def service_logs() -> str:
        # Not ours: aiosmtpd's "mail.log" is the receiving relay (it sees RCPT TO by design) and
        # "httpx" is the test's client standing in for the patient's browser.
        others = ("mail.log", "httpx", "httpcore")
        return "\n".join(
            JsonFormatter().format(r) for r in caplog.records if not r.name.startswith(others)
        )

    canary = f"CANARY-{uuid.uuid4().hex}"
    address = f"canary-{uuid.uuid4().hex[:8]}@example.org"
    body = {**REMINDER, "to": address, "content": f"Your result: {canary}",
            "verification": "canary-answer"}
    queued = await send(client, keys["sender"], body)
    # Redis while the job waits, and after the worker ran.
    redis_before = await dump_redis(redis_client)
    await run_worker(settings)
    redis_after = await dump_redis(redis_client)
    email = mailbox.messages[0][2]

    assert canary.encode() not in email
    database = await dump_database(app)
    for secret in (canary, address, "canary-answer"):
        assert secret not in database
        assert secret.encode().hex() not in database
        assert secret.encode() not in redis_before + redis_after
        assert secret not in service_logs()
    status = await client.get(f"/v1/messages/{queued.json()['id']}",
                              headers={"Authorization": f"Bearer {keys['sender']}"})
    assert canary not in status.text

    token = portal_token(email)
    answer = await client.post(f"/p/{token}", data={"answer": "canary-answer"})
    assert canary in answer.text
    logs = service_logs()
    assert "/p/<redacted>" in logs  # the access log ran, and redacted the portal token
    assert token not in logs
    assert canary not in logs


async def test_an_authorizations_free_text_is_sealed(
    client: httpx.AsyncClient, keys: dict[str, str], app: Starlette,
) -> None:
    from tests.test_consent_flow import authorization

    canary = f"CANARY-{uuid.uuid4().hex}"
    contact = await client.post("/v1/contacts", json={"email": "pat@example.org"},
                                headers={"Authorization": f"Bearer {keys['sender']}"})
    fields = ("information_used", "used_by", "purpose", "expiry_event")
    created = await client.post(
        f"/v1/contacts/{contact.json()['id']}/authorizations",
        json=authorization(**{field: f"{field} {canary}" for field in fields}),
        headers={"Authorization": f"Bearer {keys['sender']}"})
    assert created.status_code == 201, created.text
    database = await dump_database(app)
    assert canary not in database and canary.encode().hex() not in database
