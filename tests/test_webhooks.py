"""Webhooks end to end: a reminder delivered through the real relay reaches a receiver on
loopback as a signed ``message.sent`` that the ``standardwebhooks`` library verifies; failures
are retried under the same webhook-id; a rotated secret signs beside the old one; a disabled
endpoint gets nothing until enabled again. No payload carries the address or the content."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from service.core import paths as p
from service.core.config import Settings
from tests.conftest import background_worker
from tests.helpers import REMINDER, auth, send
from tests.webhook_receiver import Receiver, receiver

EVERYTHING = ["message.sent", "message.retrying", "message.failed", "message.rejected",
              "message.bounced"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, webhook_allow_private=True,
                   webhook_retry_seconds=(0.2, 0.2, 0.2, 0.2, 0.2))


@pytest.fixture
async def hooks() -> AsyncIterator[Receiver]:
    async with receiver() as found:
        yield found


async def register(client: httpx.AsyncClient, admin: str, url: str,
                   events: list[str] | None = None) -> dict[str, Any]:
    response = await client.post(p.WEBHOOKS, json={"url": url, "events": events or EVERYTHING},
                                 headers=auth(admin))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def sent_events(hooks: Receiver) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in hooks.got if r.answered == 200]


async def test_a_delivered_reminder_is_a_signed_message_sent_event_without_phi(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, hooks: Receiver,
) -> None:
    webhook = await register(client, keys["admin"], hooks.url)
    assert webhook["secret"].startswith("whsec_") and webhook["status"] == "enabled"
    assert "secret" not in (await client.get(p.WEBHOOK.format(webhook_id=webhook["id"]),
                                             headers=auth(keys["admin"]))).json()
    message_id = (await send(client, keys["sender"])).json()["id"]
    async with background_worker(settings):
        await hooks.wait(lambda: len(hooks.got) >= 1)
    received = hooks.got[0]
    payload = Webhook(webhook["secret"]).verify(received.body, received.headers)
    assert payload["type"] == "message.sent"
    assert payload["data"]["message_id"] == message_id
    assert payload["data"]["status"] == "sent" and payload["data"]["campaign_id"] is None
    assert received.headers["content-type"] == "application/json"
    assert received.headers["webhook-id"]
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 44).verify(received.body, received.headers)
    for r in hooks.got:
        text = r.body.decode() + json.dumps(r.headers)
        for phi in (REMINDER["to"], "pat.jones", REMINDER["content"], "Cardiology",
                    REMINDER["subject"]):
            assert phi not in text


async def test_an_endpoint_answering_500_gets_the_event_later_once_under_the_same_id(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, hooks: Receiver,
) -> None:
    webhook = await register(client, keys["admin"], hooks.url, ["message.sent"])
    hooks.answers = [500, 500, 500]
    await send(client, keys["sender"])
    async with background_worker(settings):
        await hooks.wait(lambda: any(r.answered == 200 for r in hooks.got))
        await asyncio.sleep(1.5)  # and nothing more comes
    assert [r.answered for r in hooks.got] == [500, 500, 500, 200]
    assert len({r.headers["webhook-id"] for r in hooks.got}) == 1
    assert len({r.body for r in hooks.got}) == 1
    for r in hooks.got:
        Webhook(webhook["secret"]).verify(r.body, r.headers)
    attempts = await client.get(p.WEBHOOK_ATTEMPTS.format(webhook_id=webhook["id"]),
                                headers=auth(keys["admin"]))
    items = attempts.json()["items"]
    assert [a["http_status"] for a in items] == [200, 500, 500, 500]  # newest first
    assert {a["event_id"] for a in items} == {hooks.got[0].headers["webhook-id"]}
    assert {a["type"] for a in items} == {"message.sent"}
    assert all(a["error_class"] is None and a["duration_ms"] >= 0 for a in items)
    first = await client.get(p.WEBHOOK_ATTEMPTS.format(webhook_id=webhook["id"]),
                             params={"limit": 3}, headers=auth(keys["admin"]))
    rest = await client.get(p.WEBHOOK_ATTEMPTS.format(webhook_id=webhook["id"]),
                            params={"limit": 3, "cursor": first.json()["next_cursor"]},
                            headers=auth(keys["admin"]))
    assert first.json()["items"] + rest.json()["items"] == items
    assert rest.json()["next_cursor"] is None


async def test_after_a_rotation_both_secrets_sign_until_the_overlap_ends(
    app: Any, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    hooks: Receiver,
) -> None:
    webhook = await register(client, keys["admin"], hooks.url, ["message.sent"])
    rotated = await client.post(p.WEBHOOK_ROTATE.format(webhook_id=webhook["id"]),
                                headers=auth(keys["admin"]))
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret != webhook["secret"] and rotated.json()["previous_secret_expires_at"]
    await send(client, keys["sender"])
    async with background_worker(settings):
        await hooks.wait(lambda: len(hooks.got) == 1)
        signatures = hooks.got[0].headers["webhook-signature"].split(" ")
        assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
        for secret in (webhook["secret"], new_secret):
            Webhook(secret).verify(hooks.got[0].body, hooks.got[0].headers)
        # The overlap over, the old secret signs no more.
        await app.state.resources.db.execute(
            "UPDATE webhook_endpoints SET previous_secret_until = now()")
        await send(client, keys["sender"])
        await hooks.wait(lambda: len(hooks.got) == 2)
    later = hooks.got[1]
    assert len(later.headers["webhook-signature"].split(" ")) == 1
    Webhook(new_secret).verify(later.body, later.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(webhook["secret"]).verify(later.body, later.headers)


async def test_a_disabled_endpoint_gets_nothing_until_enabled_again(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, hooks: Receiver,
) -> None:
    # Any failure disables at once here (5 days by default).
    settings = replace(settings, webhook_disable_after_seconds=0)
    webhook = await register(client, keys["admin"], hooks.url, ["message.sent"])
    url = p.WEBHOOK.format(webhook_id=webhook["id"])
    hooks.answers = [503]
    await send(client, keys["sender"])
    async with background_worker(settings):
        await hooks.wait(lambda: len(hooks.got) == 1)
        for _ in range(100):
            shown = (await client.get(url, headers=auth(keys["admin"]))).json()
            if shown["status"] == "disabled":
                break
            await asyncio.sleep(0.05)
        assert shown["status"] == "disabled" and shown["disabled_at"]
        await asyncio.sleep(2.0)  # its retry falls due meanwhile, and waits
        assert len(hooks.got) == 1
        enabled = await client.post(p.WEBHOOK_ENABLE.format(webhook_id=webhook["id"]),
                                    headers=auth(keys["admin"]))
        assert enabled.status_code == 200 and enabled.json()["status"] == "enabled"
        await hooks.wait(lambda: len(hooks.got) == 2)
    assert [r.answered for r in hooks.got] == [503, 200]
    assert hooks.got[0].headers["webhook-id"] == hooks.got[1].headers["webhook-id"]
    Webhook(webhook["secret"]).verify(hooks.got[1].body, hooks.got[1].headers)
