"""What a delivered email shows: every email the clinic's name, postal address and contact; a
marketing email its own wording (not "secure message") and its unsubscribe link (the one its
List-Unsubscribe header carries; CAN-SPAM). Never anything of the message's content."""

from __future__ import annotations

import re
from dataclasses import replace
from email.message import EmailMessage

import httpx
from starlette.applications import Starlette

from service.core.config import Settings
from service.devtools.relay import Mailbox
from tests.campaign_setup import sent_campaign
from tests.conftest import run_worker
from tests.helpers import REMINDER, parse_mail, send
from tests.test_compose import parts
from tests.test_consent_flow import NEWSLETTER, authorise_and_confirm, state

POSTAL = "Riverside Clinic, 12 Elm Street, Springfield, IL 62701"
CONTACT = "+1 555 0100"


def footed(settings: Settings, **changes: str | None) -> Settings:
    return replace(settings, **{"clinic_postal_address": POSTAL, "clinic_phone": CONTACT,
                                **changes})


def header_url(mail: EmailMessage) -> str:
    found = re.fullmatch(r"<(https://portal\.clinic\.test/u/[A-Za-z0-9_-]+)>",
                         mail["List-Unsubscribe"])
    assert found is not None
    return found.group(1)


def assert_marketing_foot(data: bytes) -> str:
    mail = parse_mail(data)
    url = header_url(mail)
    text, html = parts(mail)
    assert f"Unsubscribe or change your email preferences:\n{url}\n" in text
    assert f'<a href="{url}">Unsubscribe or change your email preferences</a>' in html
    for part in (text, html):
        assert POSTAL in part
        assert part.count("/u/") == 1  # one unsubscribe link, the header's
        assert "Riverside Clinic has news for you." in part and "secure message" not in part
    return url


async def test_a_campaign_email_shows_its_unsubscribe_link_and_postal_address(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    await sent_campaign(app, client, keys, footed(settings), mailbox, 2)
    urls = {assert_marketing_foot(data) for _, _, data in mailbox.messages}
    assert len(urls) == 2  # each reader's own link
    for _, _, data in mailbox.messages:
        assert b"parking garage" not in data  # the campaign's content stays in the portal
    page = await client.get(urls.pop().removeprefix("https://portal.clinic.test"))
    assert page.status_code == 200 and "Unsubscribe" in page.text


async def test_the_body_link_of_a_marketing_send_unsubscribes(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> None:
    worker = footed(settings)
    contact = await authorise_and_confirm(client, keys, worker, mailbox)
    assert (await send(client, keys["sender"], NEWSLETTER)).status_code == 202
    await run_worker(worker)
    url = assert_marketing_foot(mailbox.messages[-1][2])
    assert b"Spring hours" not in mailbox.messages[-1][2]
    one_click = await client.post(
        url.removeprefix("https://portal.clinic.test"), content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert one_click.status_code == 200
    assert (await state(client, keys["sender"], contact))["marketing"] == {
        "allowed": False, "reason": "unsubscribed"}


async def test_a_reminder_names_the_clinic_its_address_and_contact_and_nothing_else(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> None:
    await send(client, keys["sender"])
    await run_worker(footed(settings))
    data = mailbox.messages[-1][2]
    mail = parse_mail(data)
    assert mail["List-Unsubscribe"] is None
    for part in parts(mail):
        assert "You have a new secure message from Riverside Clinic." in part
        assert "Sent by Riverside Clinic." in part and f"Postal address: {POSTAL}" in part
        assert f"Phone: {CONTACT}" in part and "https://riverside.clinic.test" in part
        assert "nsubscribe" not in part
    decoded = "".join(parts(mail))
    for phi in ("Cardiology", "Rivera", "10:30", "Tuesday"):
        assert phi not in decoded


async def test_without_a_contact_a_reminder_still_says_who_is_writing(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> None:
    await send(client, keys["sender"], {**REMINDER, "to": "sam@example.org"})
    await run_worker(footed(settings, clinic_phone=None, clinic_website=None))
    for part in parts(parse_mail(mailbox.messages[-1][2])):
        assert "Sent by Riverside Clinic." in part
        assert "Phone:" not in part and "Website:" not in part
