"""The consent ledger end to end: authorization, double opt-in, marketing delivery with RFC 8058
headers, one-click unsubscribe, revocation before sending, hard-bounce suppression, audit."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from service.audit import verify_chain
from service.core.config import Settings
from service.devtools.relay import Mailbox
from tests.conftest import run_worker
from tests.helpers import REMINDER, auth, mail_text, parse_mail, send

NEWSLETTER = {**REMINDER, "purpose": "marketing", "subject": "Our Spring Newsletter",
              "content": "Spring hours and our new parking garage."}
PATIENT = "pat.jones@example.org"


def authorization(**changes: Any) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    body = {
        "information_used": "name and email address",
        "used_by": "Riverside Clinic marketing office",
        "purpose": "newsletters about clinic services",
        "expires_at": (now + dt.timedelta(days=365)).isoformat(),
        "signed_at": (now - dt.timedelta(days=1)).isoformat(),
        "revocation_right_noted": True,
        "remuneration": False,
        "document_sha256": hashlib.sha256(b"signed form").hexdigest(),
        "source": "paper",
    }
    body.update(changes)
    return body


async def new_contact(client: httpx.AsyncClient, key: str, email: str = PATIENT) -> str:
    response = await client.post("/v1/contacts", json={"email": email, "name": "Pat Jones"},
                                 headers=auth(key))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def state(client: httpx.AsyncClient, key: str, contact: str) -> dict[str, Any]:
    response = await client.get(f"/v1/contacts/{contact}/consent", headers=auth(key))
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def link(data: bytes, kind: str) -> str:
    found = re.findall(rf"https://portal\.clinic\.test/{kind}/([A-Za-z0-9_-]{{43}})",
                       mail_text(parse_mail(data)))
    assert found, f"no /{kind}/ link"
    return str(found[0])


async def authorise_and_confirm(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> str:
    contact = await new_contact(client, keys["sender"])
    created = await client.post(f"/v1/contacts/{contact}/authorizations", json=authorization(),
                                headers=auth(keys["marketer"]))
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "awaiting_confirmation"
    await run_worker(settings)
    confirmation = parse_mail(mailbox.messages[-1][2])
    assert confirmation["Subject"] == "Please Confirm Your Email Preferences"
    token = link(mailbox.messages[-1][2], "c")
    assert (await state(client, keys["sender"], contact))["marketing"] == {
        "allowed": False, "reason": "authorization_unconfirmed"}
    page = await client.get(f"/c/{token}")
    assert page.status_code == 200 and "Yes, confirm" in page.text
    assert not (await state(client, keys["sender"], contact))["marketing"]["allowed"]
    assert (await client.post(f"/c/{token}")).status_code == 200
    assert (await state(client, keys["sender"], contact))["marketing"]["allowed"]
    return contact


async def test_opt_in_marketing_unsubscribe_and_treatment_still_flows(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    app: Starlette,
) -> None:
    refused = await send(client, keys["sender"], NEWSLETTER)
    assert refused.status_code == 422
    assert refused.json()["reason"] == "no_authorization"

    contact = await authorise_and_confirm(client, keys, settings, mailbox)
    accepted = await send(client, keys["sender"], NEWSLETTER)
    assert accepted.status_code == 202, accepted.text
    await run_worker(settings)
    marketing = parse_mail(mailbox.messages[-1][2])
    assert marketing["Subject"] == "Our Spring Newsletter"
    assert marketing["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe_url = re.fullmatch(r"<(https://portal\.clinic\.test/u/[A-Za-z0-9_-]{43})>",
                                   marketing["List-Unsubscribe"])
    assert unsubscribe_url is not None

    path = unsubscribe_url.group(1).removeprefix("https://portal.clinic.test")
    scanner = await client.get(path)  # a link scanner's prefetch changes nothing
    assert scanner.status_code == 200 and "Unsubscribe" in scanner.text
    assert (await state(client, keys["sender"], contact))["marketing"]["allowed"]
    one_click = await client.post(
        path, content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert one_click.status_code == 200
    assert "set-cookie" not in one_click.headers
    assert (await state(client, keys["sender"], contact))["marketing"] == {
        "allowed": False, "reason": "unsubscribed"}
    again = await client.post(path, content=b"List-Unsubscribe=One-Click",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert again.status_code == 200  # idempotent

    refused = await send(client, keys["sender"], NEWSLETTER)
    assert (refused.status_code, refused.json()["reason"]) == (422, "unsubscribed")
    delivered_before = len(mailbox.messages)
    reminder = await send(client, keys["sender"], REMINDER)
    assert reminder.status_code == 202
    await run_worker(settings)
    assert len(mailbox.messages) == delivered_before + 1
    assert parse_mail(mailbox.messages[-1][2])["List-Unsubscribe"] is None

    async with app.state.resources.db.acquire() as conn:
        assert await verify_chain(conn) is None
        rows = await conn.fetch("SELECT action FROM audit_log ORDER BY id")
        actions = [r["action"] for r in rows]
    assert actions.count("message.refuse") == 2
    assert {"contact.create", "authorization.create", "consent.confirm", "consent.revoke"} <= set(
        actions)


async def test_revocation_after_acceptance_stops_the_send(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> None:
    contact = await authorise_and_confirm(client, keys, settings, mailbox)
    accepted = await send(client, keys["sender"], NEWSLETTER)
    assert accepted.status_code == 202
    revoked = await client.post(f"/v1/contacts/{contact}/consents",
                                json={"purpose": "marketing", "action": "revoke"},
                                headers=auth(keys["marketer"]))
    assert revoked.status_code == 201
    delivered_before = len(mailbox.messages)
    await run_worker(settings)
    assert len(mailbox.messages) == delivered_before
    status = await client.get(f"/v1/messages/{accepted.json()['id']}", headers=auth(keys["sender"]))
    assert status.json()["status"] == "rejected"
    assert status.json()["last_error_class"] == "consent:authorization_revoked"


async def test_treatment_opt_out_is_honoured(
    client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    contact = await new_contact(client, keys["sender"])
    opted_out = await client.post(
        f"/v1/contacts/{contact}/consents",
        json={"purpose": "treatment", "action": "revoke", "source": "portal"},
        headers=auth(keys["sender"]))
    assert opted_out.status_code == 201
    refused = await send(client, keys["sender"], {**REMINDER, "to": PATIENT.upper()})
    assert (refused.status_code, refused.json()["reason"]) == (422, "opted_out")
    ops = await send(client, keys["sender"], {**REMINDER, "purpose": "operations"})
    assert ops.status_code == 202


async def test_hard_bounce_suppresses_the_address(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, app: Starlette,
) -> None:
    body = {**REMINDER, "to": "nosuchuser@example.org"}
    first = await send(client, keys["sender"], body)
    assert first.status_code == 202
    await run_worker(settings)
    refused = await send(client, keys["sender"], body)
    assert (refused.status_code, refused.json()["reason"]) == (422, "suppressed")
    row = await app.state.resources.db.fetchrow("SELECT reason, detail FROM suppressions")
    assert (row["reason"], row["detail"]) == ("hard_bounce", "5.1.1")


async def test_manual_suppression_and_roles(
    client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    body = {"email": "someone@example.org", "reason": "complaint"}
    denied = await client.post("/v1/suppressions", json=body, headers=auth(keys["marketer"]))
    assert denied.status_code == 403
    made = await client.post("/v1/suppressions", json=body, headers=auth(keys["admin"]))
    assert made.status_code == 201
    repeat = await client.post("/v1/suppressions", json=body, headers=auth(keys["sender"]))
    assert repeat.status_code == 200
    refused = await send(client, keys["sender"], {**REMINDER, "to": "Someone@example.org"})
    assert (refused.status_code, refused.json()["reason"]) == (422, "suppressed")


async def test_marketers_may_only_revoke_marketing(
    client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    contact = await new_contact(client, keys["marketer"])
    response = await client.post(f"/v1/contacts/{contact}/consents",
                                 json={"purpose": "treatment", "action": "revoke"},
                                 headers=auth(keys["marketer"]))
    assert response.status_code == 403
    assert (await client.get(f"/v1/contacts/{contact}/consent",
                             headers=auth(keys["admin"]))).status_code == 403


async def test_contacts_are_unique_per_address_and_never_read_back(
    client: httpx.AsyncClient, keys: dict[str, str], app: Starlette,
) -> None:
    first = await new_contact(client, keys["sender"])
    again = await client.post("/v1/contacts", json={"email": PATIENT.upper()},
                              headers=auth(keys["marketer"]))
    assert again.status_code == 200 and again.json() == {"id": first}
    dump = str([dict(r) for r in await app.state.resources.db.fetch("SELECT * FROM contacts")])
    assert PATIENT not in dump and "Pat Jones" not in dump


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"revocation_right_noted": False}, "revocation_right_noted"),
        ({"expires_at": None}, "expires_at"),
        ({"expires_at": "2001-01-01T00:00:00+00:00"}, "expires_at"),
        ({"signed_at": "yesterday"}, "signed_at"),
        ({"document_sha256": "abc"}, "document_sha256"),
        ({"remuneration": "no"}, "remuneration"),
    ],
)
async def test_authorizations_need_the_core_elements(
    client: httpx.AsyncClient, keys: dict[str, str], change: dict[str, Any], field: str,
) -> None:
    contact = await new_contact(client, keys["sender"])
    body = authorization(**change)
    if change.get("expires_at", "") is None:
        del body["expires_at"]
    response = await client.post(f"/v1/contacts/{contact}/authorizations", json=body,
                                 headers=auth(keys["marketer"]))
    assert response.status_code == 422
    assert field in response.json()["fields"]


async def test_marketing_grant_without_authorization_is_refused(
    client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    contact = await new_contact(client, keys["sender"])
    response = await client.post(f"/v1/contacts/{contact}/consents",
                                  json={"purpose": "marketing", "action": "grant"},
                                  headers=auth(keys["sender"]))
    assert response.status_code == 422


async def test_ledger_and_audit_are_append_only_and_tampering_shows(
    client: httpx.AsyncClient, keys: dict[str, str], app: Starlette,
) -> None:
    import asyncpg

    contact = await new_contact(client, keys["sender"])
    await client.post(f"/v1/contacts/{contact}/consents",
                      json={"purpose": "treatment", "action": "revoke"},
                      headers=auth(keys["sender"]))
    await client.post(f"/v1/contacts/{contact}/consents",
                      json={"purpose": "treatment", "action": "grant"},
                      headers=auth(keys["sender"]))
    db = app.state.resources.db
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await db.execute("UPDATE consent_events SET action = 'grant'")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await db.execute("DELETE FROM audit_log")
    async with db.acquire() as conn:
        assert await verify_chain(conn) is None
        # Someone with the database bypasses the trigger and rewrites history: the chain shows it.
        second = await conn.fetchval("SELECT id FROM audit_log ORDER BY id OFFSET 1 LIMIT 1")
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        await conn.execute("UPDATE audit_log SET outcome = 'nothing happened' WHERE id = $1",
                           second)
        await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
        assert await verify_chain(conn) == second


async def test_unknown_links_get_a_generic_page(client: httpx.AsyncClient) -> None:
    for path in ("/u/" + "A" * 43, "/c/" + "A" * 43, "/u/short", "/c/short"):
        response = await client.post(path)
        assert response.status_code == 404
        assert "not available" in response.text
