"""The /v1/webhooks API, the events the database writes with each change, the SSRF checks at
registration and at delivery, tenancy, the CLI verbs, and the event types kept in step with the
contract and the README."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette

from service.access import create_api_key, create_organization
from service.core import paths as p
from service.core.config import Settings
from service.db.queries import QUERIES
from service.shipped import openapi_document
from service.webhooks import EVENT_TYPES, deliver_due
from tests.campaign_setup import create
from tests.helpers import REMINDER, auth, send
from tests.test_cli import run
from tests.webhook_receiver import receiver

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = "https://1.1.1.1/hooks"  # checked, never sent to


async def register(client: httpx.AsyncClient, key: str, url: str = PUBLIC,
                   events: list[str] | None = None) -> httpx.Response:
    return await client.post(p.WEBHOOKS, json={"url": url, "events": events or list(EVENT_TYPES)},
                             headers=auth(key))


async def test_an_admin_registers_lists_reads_and_deletes_endpoints(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    created = await register(client, keys["admin"], events=["consent.revoked", "message.sent"])
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"id", "url", "events", "status", "created_at", "disabled_at", "secret"}
    assert body["events"] == ["message.sent", "consent.revoked"]  # canonical order
    raw = base64.b64decode(body["secret"].removeprefix("whsec_"), validate=True)
    assert body["secret"].startswith("whsec_") and len(raw) == 32
    # Stored sealed: the secret's bytes are nowhere in the row.
    row = await app.state.resources.db.fetchrow("SELECT * FROM webhook_endpoints")
    assert raw not in bytes(row["secret_sealed"]) and body["secret"] not in str(dict(row))
    second = (await register(client, keys["admin"])).json()
    first_page = await client.get(p.WEBHOOKS, params={"limit": 1}, headers=auth(keys["admin"]))
    rest = await client.get(p.WEBHOOKS, params={"limit": 1,
                                                "cursor": first_page.json()["next_cursor"]},
                            headers=auth(keys["admin"]))
    assert [w["id"] for w in first_page.json()["items"] + rest.json()["items"]] == [
        body["id"], second["id"]]
    assert rest.json()["next_cursor"] is None
    assert all("secret" not in w for w in rest.json()["items"])
    url = p.WEBHOOK.format(webhook_id=body["id"])
    assert (await client.get(url, headers=auth(keys["admin"]))).json()["url"] == PUBLIC
    for role in ("sender", "marketer"):
        assert (await client.get(p.WEBHOOKS, headers=auth(keys[role]))).status_code == 403
        assert (await register(client, keys[role])).status_code == 403
    assert (await client.delete(url, headers=auth(keys["admin"]))).status_code == 204
    assert (await client.get(url, headers=auth(keys["admin"]))).status_code == 404
    assert (await client.delete(url, headers=auth(keys["admin"]))).status_code == 404
    actions = await app.state.resources.db.fetch(
        "SELECT action FROM audit_log WHERE object_type = 'webhook' ORDER BY id")
    assert [a["action"] for a in actions] == ["webhook.create", "webhook.create",
                                              "webhook.delete"]


@pytest.mark.parametrize("body", [
    {"url": PUBLIC, "events": []},
    {"url": PUBLIC, "events": ["message.queued"]},
    {"url": PUBLIC, "events": "message.sent"},
    {"url": PUBLIC},
    {"url": PUBLIC, "events": ["message.sent"], "secret": "whsec_mine"},
])
async def test_a_malformed_registration_is_a_422_naming_the_field(
    client: httpx.AsyncClient, keys: dict[str, str], body: dict[str, Any],
) -> None:
    response = await client.post(p.WEBHOOKS, json=body, headers=auth(keys["admin"]))
    assert response.status_code == 422, response.text
    assert response.json()["fields"]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hooks", "https://localhost/hooks", "https://[::1]/",
    "https://10.0.0.8/", "https://192.168.0.10/", "https://169.254.169.254/latest/meta-data",
    "https://[fe80::1]/", "https://224.0.0.1/", "https://0.0.0.0/", "https://[::ffff:1.1.1.1]/",
    "https://[::ffff:127.0.0.1]/", "https://100.64.1.1/", "https://name.invalid/",
    "ftp://1.1.1.1/", "https://user:pw@1.1.1.1/",
])
async def test_registration_refuses_what_could_reach_inside(
    client: httpx.AsyncClient, keys: dict[str, str], url: str,
) -> None:
    response = await register(client, keys["admin"], url)
    assert response.status_code == 422, response.text
    assert response.json()["fields"] == ["url"]
    assert url not in response.text


async def test_the_name_is_checked_again_at_delivery_and_the_checked_address_is_used(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = {"hooks.clinic.test": "1.1.1.1"}

    async def resolve(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", resolve)
    db = app.state.resources.db
    async with receiver() as hooks:
        name_url = f"http://hooks.clinic.test:{hooks.port}/hooks"
        webhook = (await register(client, keys["admin"], name_url, ["message.sent"])).json()
        await db.execute("INSERT INTO message_events (message_id, status) VALUES ($1, 'sent')",
                         uuid.UUID((await send(client, keys["sender"])).json()["id"]))
        # Rebound: the name now points inside. Nothing is connected to; the attempt says why.
        answers["hooks.clinic.test"] = "127.0.0.1"
        assert await deliver_due(db, settings, time.monotonic() + 1) == 0
        assert hooks.got == []
        attempt = await db.fetchrow("SELECT http_status, error_class FROM webhook_attempts")
        assert tuple(attempt) == (None, "address_refused")
        # Where loopback is allowed, the request goes to the address checked, the name kept.
        await db.execute("UPDATE webhook_deliveries SET next_attempt_at = now()")
        allowed = replace(settings, webhook_allow_private=True)
        assert await deliver_due(db, allowed, time.monotonic() + 1) == 1
    assert hooks.got[0].headers["host"] == f"hooks.clinic.test:{hooks.port}"
    assert json.loads(hooks.got[0].body)["type"] == "message.sent"
    assert webhook["id"]


async def _types(db: Any) -> list[str]:
    rows = await db.fetch("SELECT type FROM webhook_events ORDER BY created_at")
    return [r["type"] for r in rows]


async def test_each_change_writes_its_event_in_its_own_transaction(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    db = app.state.resources.db
    assert (await register(client, keys["admin"])).status_code == 201
    ids = [uuid.UUID((await send(client, keys["sender"], {**REMINDER, "to": f"p{n}@example.org"})
                      ).json()["id"]) for n in range(3)]
    assert await _types(db) == []  # 'queued' is no event
    sending = "UPDATE messages SET status = 'sending' WHERE id = $1"
    await db.execute(sending, ids[0])
    await db.execute(QUERIES.mark_retrying, ids[0], 60.0, "tls_unavailable")
    await db.execute(sending, ids[0])
    await db.execute(QUERIES.mark_failed, ids[0], "smtp_550")
    await db.execute(sending, ids[1])
    await db.execute(QUERIES.mark_rejected, ids[1], "consent_revoked")
    await db.execute("UPDATE messages SET status = 'sent' WHERE id = $1", ids[2])
    await db.execute(QUERIES.mark_bounced, ids[2], "bounced:5.1.1")
    await db.execute(QUERIES.mark_complained, ids[2])
    # A change rolled back leaves no event behind.
    with pytest.raises(RuntimeError):
        async with db.acquire() as conn, conn.transaction():
            await conn.execute(QUERIES.mark_complained, ids[1])
            raise RuntimeError
    contact = (await client.post(p.CONTACTS, json={"email": "pat@example.org"},
                                 headers=auth(keys["sender"]))).json()["id"]
    revoked = await client.post(p.CONTACT_CONSENTS.format(contact_id=contact),
                                json={"purpose": "treatment", "action": "revoke"},
                                headers=auth(keys["sender"]))
    assert revoked.status_code in (200, 201), revoked.text
    campaign = uuid.UUID(await create(client, keys["marketer"]))
    await db.execute("UPDATE campaigns SET status = 'sending' WHERE id = $1", campaign)
    await db.execute(QUERIES.finish_campaign, [campaign])
    await db.execute(QUERIES.finish_campaign, [campaign])  # done already: no second event
    assert await _types(db) == [
        "message.retrying", "message.failed", "message.rejected", "message.bounced",
        "complaint.received", "consent.revoked", "campaign.finished"]
    events = {r["type"]: json.loads(r["data"]) for r in
              await db.fetch("SELECT type, data::text FROM webhook_events")}
    assert events["message.failed"] == {
        "message_id": str(ids[0]), "campaign_id": None, "status": "failed",
        "reason": "smtp_550", "at": events["message.failed"]["at"]}
    assert events["complaint.received"]["message_id"] == str(ids[2])
    assert events["consent.revoked"] == {"contact_id": contact, "purpose": "treatment",
                                         "source": "api", "at": events["consent.revoked"]["at"]}
    assert events["campaign.finished"]["campaign_id"] == str(campaign)
    assert all(e["at"].endswith("Z") for e in events.values())
    assert "example.org" not in json.dumps(events)
    assert await db.fetchval("SELECT count(*) FROM webhook_deliveries") == 7


async def test_webhooks_and_their_events_are_the_organizations_own(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    db = app.state.resources.db
    ours = (await register(client, keys["admin"], events=["message.rejected"])).json()
    await create_organization(db, "Hillside Clinic")
    their_admin = await create_api_key(db, "admin", "hillside admin", "Hillside Clinic")
    their_sender = await create_api_key(db, "sender", "hillside sender", "Hillside Clinic")
    listed = await client.get(p.WEBHOOKS, headers=auth(their_admin))
    assert listed.json() == {"items": [], "next_cursor": None}
    for path in (p.WEBHOOK, p.WEBHOOK_ATTEMPTS):
        response = await client.get(path.format(webhook_id=ours["id"]), headers=auth(their_admin))
        assert response.status_code == 404
    # Their change produces no event for our endpoint.
    theirs = uuid.UUID((await send(client, their_sender)).json()["id"])
    await db.execute("UPDATE messages SET status = 'sending' WHERE id = $1", theirs)
    await db.execute(QUERIES.mark_rejected, theirs, "consent_revoked")
    assert await _types(db) == []


async def test_with_no_endpoint_a_change_writes_no_event(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    db = app.state.resources.db
    message = uuid.UUID((await send(client, keys["sender"])).json()["id"])
    await db.execute("UPDATE messages SET status = 'sending' WHERE id = $1", message)
    await db.execute(QUERIES.mark_failed, message, "smtp_550")
    assert await _types(db) == []


async def test_the_operator_lists_and_enables_endpoints(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    tmp_path: Path,
) -> None:
    webhook = (await register(client, keys["admin"], events=["message.sent"])).json()
    await app.state.resources.db.execute("UPDATE webhook_endpoints SET status = 'disabled'")
    env = {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
           "MASTER_KEYS": ",".join(f"{kid}:{base64.b64encode(key).decode()}"
                                   for kid, key in settings.keyring.keys.items())}
    listed = run(tmp_path, "webhooks-list", **env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split("\t")[:4] == [webhook["id"], "default", "disabled", "message.sent"]
    assert run(tmp_path, "webhook-enable", "--id", webhook["id"], **env).returncode == 0
    assert run(tmp_path, "webhook-enable", "--id", str(uuid.uuid4()), **env).returncode == 1
    shown = await client.get(p.WEBHOOK.format(webhook_id=webhook["id"]),
                             headers=auth(keys["admin"]))
    assert shown.json()["status"] == "enabled"


def test_the_event_types_are_defined_once_and_derived_everywhere() -> None:
    spec = yaml.safe_load(openapi_document())
    schemas = spec["components"]["schemas"]
    assert tuple(schemas["WebhookEventType"]["enum"]) == EVENT_TYPES
    readme = (ROOT / "README.md").read_text()
    assert all(f"`{event}`" in readme for event in EVENT_TYPES)
    operations = {op["operationId"] for item in spec["paths"].values()
                  for op in item.values() if isinstance(op, dict) and "operationId" in op}
    assert {"createWebhook", "listWebhooks", "getWebhook", "deleteWebhook",
            "rotateWebhookSecret", "enableWebhook", "listWebhookAttempts"} <= operations
