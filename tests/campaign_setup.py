"""Campaign set-up shared by the campaign and engagement tests."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

import httpx
from starlette.applications import Starlette

from service.core.addresses import email_index
from service.core.config import Settings
from service.devtools.relay import Mailbox
from service.engagement import counters
from tests.conftest import run_worker
from tests.helpers import auth, mail_text, parse_mail


async def authorize_all(app: Starlette, addresses: list[str], key_id: uuid.UUID) -> None:
    """Setup only: confirmed marketing authorizations written straight into the ledger."""
    db = app.state.resources.db
    keyring = app.state.resources.settings.keyring
    organization = await db.fetchrow(
        "SELECT o.id, o.index_scope FROM api_keys k JOIN organizations o"
        " ON o.id = k.organization_id WHERE k.id = $1", key_id)
    for address in addresses:
        contact_id, auth_id = uuid.uuid4(), uuid.uuid4()
        index = email_index(keyring, address, organization["index_scope"])
        await db.execute(
            "INSERT INTO contacts (id, email_index, email_sealed, created_by, organization_id)"
            " VALUES ($1, $2, $3, $4, $5)",
            contact_id, index, keyring.seal(address.encode(), contact_id.bytes + b"email"), key_id,
            organization["id"])
        await db.execute(
            "INSERT INTO marketing_authorizations (id, contact_id, information_used, used_by,"
            " purpose_description, expires_at, signed_at, revocation_right_noted, remuneration,"
            " document_sha256, confirm_token_hash, created_by) VALUES ($1, $2, 'email', 'clinic',"
            " 'newsletter', now() + interval '1 year', now(), true, false, $3, $4, $5)",
            auth_id, contact_id, hashlib.sha256(address.encode()).digest(),
            hashlib.sha256(b"c" + address.encode()).digest(), key_id)
        for action in ("grant", "confirm"):
            await db.execute(
                "INSERT INTO consent_events (contact_id, purpose, action, source, actor,"
                " authorization_id) VALUES ($1, 'marketing', $2, 'paper', 'test', $3)",
                contact_id, action, auth_id)


async def marketer_key_id(app: Starlette) -> uuid.UUID:
    key_id: uuid.UUID = await app.state.resources.db.fetchval(
        "SELECT id FROM api_keys WHERE role = 'marketer'")
    return key_id


async def create(client: httpx.AsyncClient, key: str, **changes: Any) -> str:
    body = {"name": "Spring newsletter", "subject": "Our Spring Newsletter",
            "teaser": "News and hours from Riverside Clinic",
            "content": "Our new parking garage opens in April.", "rate_per_second": 1000}
    body.update(changes)
    response = await client.post("/v1/campaigns", json=body, headers=auth(key))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def audience_csv(addresses: list[str]) -> bytes:
    lines = ["email,name,external_id"] + [f"{a},Someone,{n}" for n, a in enumerate(addresses)]
    return ("\n".join(lines) + "\n").encode()


async def upload(client: httpx.AsyncClient, key: str, campaign: str, data: bytes) -> Any:
    response = await client.post(f"/v1/campaigns/{campaign}/audience", content=data,
                                 headers={**auth(key), "Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    return response.json()


async def progress(client: httpx.AsyncClient, key: str, campaign: str) -> Any:
    response = await client.get(f"/v1/campaigns/{campaign}", headers=auth(key))
    assert response.status_code == 200
    return response.json()


LINK = "https://riverside.example/flu-shots"
PIXEL = re.compile(r"https://portal\.clinic\.test/t/o/([A-Za-z0-9_-]+)")
CLICK = re.compile(r"https://portal\.clinic\.test/t/c/([A-Za-z0-9_-]+)")


async def sent_campaign(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox, size: int, **changes: Any,
) -> tuple[str, list[tuple[str, str]]]:
    """A campaign delivered to ``size`` authorized recipients; returns its id and, per email,
    its pixel and click tokens."""
    addresses = [f"reader{n}.{uuid.uuid4().hex[:6]}@example.org" for n in range(size)]
    await authorize_all(app, addresses, await marketer_key_id(app))
    body = {"tracking": True, "links": [LINK], **changes}
    campaign = await create(client, keys["marketer"], **body)
    await upload(client, keys["marketer"], campaign, audience_csv(addresses))
    response = await client.post(f"/v1/campaigns/{campaign}/send", headers=auth(keys["marketer"]))
    assert response.status_code == 202
    await run_worker(settings)
    assert len(mailbox.messages) == size
    found = []
    for _, _, data in mailbox.messages:
        text = mail_text(parse_mail(data))
        found.append((PIXEL.findall(text)[0] if PIXEL.search(text) else "",
                      CLICK.findall(text)[0] if CLICK.search(text) else ""))
    return campaign, found


async def flush(app: Starlette) -> None:
    await counters.flush(app.state.resources.redis, app.state.resources.db)


async def open_pixels(client: httpx.AsyncClient, emails: list[tuple[str, str]]) -> None:
    for pixel, _ in emails:
        assert (await client.get(f"/t/o/{pixel}")).status_code == 200
