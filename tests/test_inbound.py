"""Bounces and complaints by mail: the real listener over STARTTLS, reports as mail systems
write them, and what they change (or, unauthenticated and unmatched, do not)."""

from __future__ import annotations

import re
import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import aiosmtplib
import httpx
import pytest
from starlette.applications import Starlette

from service.core.config import Settings
from service.core.crypto import Keyring
from service.db.pool import create_db_pool
from service.delivery.return_path import message_of, return_path
from service.devtools.certs import CertFiles
from service.devtools.relay import Mailbox
from service.inbound import OUTCOMES
from service.inbound.listener import start
from tests.campaign_setup import sent_campaign
from tests.conftest import free_port, run_worker
from tests.helpers import REMINDER, auth, send
from tests.report_samples import arf, dsn

DOMAIN = "bounces.clinic.test"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, bounce_domain=DOMAIN)


@pytest.fixture
async def inbound(settings: Settings, pki: CertFiles, app: Starlette) -> AsyncIterator[int]:
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(pki.server_cert, pki.server_key)
    port = free_port()
    server = await start(app.state.resources.db, settings, "127.0.0.1", port, tls)
    async with server:
        yield port


async def mail_report(port: int, pki: CertFiles, to: str, data: bytes) -> None:
    """As a mail system sends a report: STARTTLS, and the null reverse path ``MAIL FROM:<>``."""
    client_tls = ssl.create_default_context(cafile=str(pki.ca_cert))
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=True,
                           tls_context=client_tls, timeout=10)
    async with smtp:
        await smtp.sendmail("", [to], data)


async def delivered_reminder(client: httpx.AsyncClient, key: str, settings: Settings,
                             mailbox: Mailbox, to: str = REMINDER["to"]) -> tuple[str, str]:
    response = await send(client, key, {**REMINDER, "to": to})
    assert response.status_code == 202
    await run_worker(settings)
    envelope_sender = mailbox.messages[-1][0]
    return response.json()["id"], envelope_sender


@dataclass
class Delivered:
    """One reminder delivered with its return path, and the listener to mail reports to."""

    message: str
    return_path: str
    inbound: int
    pki: CertFiles

    async def report(self, data: bytes, to: str | None = None) -> None:
        await mail_report(self.inbound, self.pki, to or self.return_path, data)

    async def bounce(self, status: str = "5.1.1", recipient: str = REMINDER["to"]) -> None:
        """A DSN for this message, to its return path, as the recipient's MX writes one."""
        await self.report(dsn(self.return_path, recipient, status=status))


@pytest.fixture
async def delivered(client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
                    mailbox: Mailbox, inbound: int, pki: CertFiles) -> Delivered:
    message, rp = await delivered_reminder(client, keys["sender"], settings, mailbox)
    return Delivered(message, rp, inbound, pki)


async def status_of(client: httpx.AsyncClient, key: str, message: str) -> str:
    response = await client.get(f"/v1/messages/{message}", headers=auth(key))
    return str(response.json()["status"])


async def outcomes(app: Starlette) -> list[tuple[str, str | None]]:
    rows = await app.state.resources.db.fetch(
        "SELECT outcome, reason FROM inbound_reports ORDER BY id")
    return [(r["outcome"], r["reason"]) for r in rows]


async def test_each_message_goes_out_with_its_own_return_path_naming_no_address(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> None:
    message, sender = await delivered_reminder(client, keys["sender"], settings, mailbox)
    assert message_of(settings.keyring, DOMAIN, sender) == uuid.UUID(message)
    assert "pat" not in sender and "example.org" not in sender
    _, second = await delivered_reminder(client, keys["sender"], settings, mailbox,
                                             "someone@example.org")
    assert second != sender


async def test_a_hard_bounce_marks_the_message_and_suppresses_the_address(
    client: httpx.AsyncClient, keys: dict[str, str], delivered: Delivered, app: Starlette,
) -> None:
    message = delivered.message
    await delivered.bounce()
    assert await status_of(client, keys["sender"], message) == "bounced"
    refused = await send(client, keys["sender"])
    assert (refused.status_code, refused.json()["reason"]) == (422, "suppressed")
    row = await app.state.resources.db.fetchrow("SELECT reason, detail FROM suppressions")
    assert (row["reason"], row["detail"]) == ("hard_bounce", "5.1.1")
    audited = await app.state.resources.db.fetch(
        "SELECT actor, action, outcome FROM audit_log ORDER BY id")
    assert ("remote-mta", "message.bounce", "hard_bounce") in [tuple(r) for r in audited]
    # The same report again changes nothing more.
    await delivered.bounce()
    assert await outcomes(app) == [("hard_bounce", "5.1.1"), ("duplicate", "already bounced")]


async def test_a_policy_refusal_bounces_the_message_without_suppressing_the_patient(
    client: httpx.AsyncClient, keys: dict[str, str], delivered: Delivered, app: Starlette,
) -> None:
    message = delivered.message
    # 5.7.30: the next hop could not keep the REQUIRETLS promise (RFC 8689).
    await delivered.bounce("5.7.30")
    assert await status_of(client, keys["sender"], message) == "bounced"
    assert await app.state.resources.db.fetchval("SELECT count(*) FROM suppressions") == 0
    assert (await send(client, keys["sender"])).status_code == 202
    events = await app.state.resources.db.fetch(
        "SELECT status, error_class FROM message_events WHERE message_id = $1 ORDER BY id",
        uuid.UUID(message))
    assert (events[-1]["status"], events[-1]["error_class"]) == ("bounced", "bounced:5.7.30")


async def test_a_bounce_before_the_sent_mark_is_asked_to_come_back(
    client: httpx.AsyncClient, keys: dict[str, str], delivered: Delivered, app: Starlette,
) -> None:
    message = delivered.message
    db = app.state.resources.db
    await db.execute("UPDATE messages SET status = 'sending' WHERE id = $1", uuid.UUID(message))
    with pytest.raises(aiosmtplib.SMTPDataError) as later:
        await delivered.bounce()
    assert later.value.code == 451
    assert await outcomes(app) == []


async def test_a_soft_bounce_is_counted_and_changes_nothing_else(
    client: httpx.AsyncClient, keys: dict[str, str], delivered: Delivered, app: Starlette,
) -> None:
    message = delivered.message
    await delivered.bounce("4.2.2")
    assert await status_of(client, keys["sender"], message) == "sent"
    assert await app.state.resources.db.fetchval(
        "SELECT soft_bounces FROM messages WHERE id = $1", uuid.UUID(message)) == 1
    assert await app.state.resources.db.fetchval("SELECT count(*) FROM suppressions") == 0


async def test_reports_we_cannot_tie_to_our_message_change_nothing_and_are_counted(
    client: httpx.AsyncClient, keys: dict[str, str], delivered: Delivered, app: Starlette,
) -> None:
    message = delivered.message
    forged = return_path(Keyring.generate(), DOMAIN, uuid.UUID(message))  # not our key
    await delivered.report(dsn(forged, REMINDER["to"]), to=forged)
    # A valid return path, but the DSN names somebody else: someone guessing at addresses.
    await delivered.bounce(recipient="victim@example.org")
    await delivered.report(b"Subject: hi\r\n\r\nnot a report at all\r\n")
    await delivered.report(bytes(range(256)) * 20)
    assert await outcomes(app) == [
        ("unmatched", "no return path of ours"),
        ("unmatched", "recipient is not the message's"),
        ("unparsed", "not multipart/report"),
        ("unparsed", "not multipart/report"),
    ]
    assert await status_of(client, keys["sender"], message) == "sent"
    assert await app.state.resources.db.fetchval("SELECT count(*) FROM suppressions") == 0
    # And the listener is still there.
    await delivered.bounce()
    assert await status_of(client, keys["sender"], message) == "bounced"


async def test_the_listener_relays_nothing_and_bounds_what_it_takes(
    inbound: int, pki: CertFiles,
) -> None:
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await mail_report(inbound, pki, "patient@example.org", b"Subject: x\r\n\r\nx\r\n")
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await mail_report(inbound, pki, f"postmaster@{DOMAIN}", b"Subject: x\r\n\r\nx\r\n")
    with pytest.raises(aiosmtplib.SMTPResponseException) as too_big:
        await mail_report(inbound, pki, f"bounce+x@{DOMAIN}", b"X: y\r\n\r\n" + b"a" * 1100000)
    assert too_big.value.code == 552
    # STARTTLS is offered: the patient's address quoted in a bounce need not cross in clear.
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=inbound, start_tls=False, timeout=10)
    await smtp.connect()
    await smtp.ehlo()
    assert smtp.supports_extension("starttls")
    await smtp.quit()


async def test_a_complaint_suppresses_and_withdraws_marketing_consent(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox, inbound: int, pki: CertFiles,
) -> None:
    await sent_campaign(app, client, keys, settings, mailbox, 2)
    sender, (recipient,), _ = mailbox.messages[0]
    # Feedback loops send to the address registered with them; the original's Return-Path
    # is what ties the report to our message.
    await mail_report(inbound, pki, f"complaints@{DOMAIN}", arf(f"complaints@{DOMAIN}", sender))
    db = app.state.resources.db
    state = await db.fetch("SELECT revoked_by FROM marketing_consent ORDER BY revoked_by")
    assert sorted(str(r["revoked_by"]) for r in state) == ["None", "complaint"]
    assert await db.fetchval("SELECT reason FROM suppressions") == "complaint"
    actions = [tuple(r) for r in await db.fetch("SELECT actor, action FROM audit_log")]
    assert ("mailbox-provider", "consent.revoke") in actions
    assert ("mailbox-provider", "message.complaint") in actions
    refused = await send(client, keys["sender"], {**REMINDER, "to": recipient})
    assert (refused.status_code, refused.json()["reason"]) == (422, "suppressed")


async def test_while_postgresql_is_away_the_sender_is_asked_to_retry(
    settings: Settings, pki: CertFiles, clean_db: None,
) -> None:
    # A pool closed under the listener: the fault of a database gone away, for real.
    db = await create_db_pool(settings, min_size=1, max_size=1)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(pki.server_cert, pki.server_key)
    port = free_port()
    server = await start(db, settings, "127.0.0.1", port, tls)
    async with server:
        await db.close()
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await mail_report(port, pki, f"bounce+x@{DOMAIN}", dsn("x", "p@example.org"))
        assert refused.value.code == 451


async def test_bounce_and_complaint_rates_join_the_campaign_metrics(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox, inbound: int, pki: CertFiles,
) -> None:
    campaign, _ = await sent_campaign(app, client, keys, settings, mailbox, 4)
    (a, (to_a,), _), (b, (to_b,), _), (c, _, _), (d, _, _) = mailbox.messages
    for rp, to in ((a, to_a), (b, to_b)):
        await mail_report(inbound, pki, rp, dsn(rp, to))
    for rp in (c, d):
        await mail_report(inbound, pki, f"complaints@{DOMAIN}", arf(f"complaints@{DOMAIN}", rp))
    app.state.resources = replace(app.state.resources,
                                  settings=replace(settings, metrics_min_cell=2))
    shown = (await client.get(f"/v1/campaigns/{campaign}/metrics",
                              headers=auth(keys["marketer"]))).json()
    assert (shown["delivered"], shown["bounced"], shown["complained"]) == (2, 2, 2)
    assert shown["bounce_rate"] == {"rate": 0.5, "of": 4}
    assert shown["complaint_rate"] == {"rate": 1.0, "of": 2}
    scraped = (await client.get("/metrics", headers=auth(keys["admin"]))).text
    assert 'hipaa_mail_inbound_reports_total{outcome="hard_bounce"} 2' in scraped
    assert 'hipaa_mail_inbound_reports_total{outcome="complaint"} 2' in scraped
    assert 'hipaa_mail_messages_total{status="bounced"} 2' in scraped


async def test_the_outcomes_are_the_ones_the_table_allows(app: Starlette) -> None:
    check = await app.state.resources.db.fetchval(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conname = 'inbound_reports_outcome_check'")
    assert sorted(re.findall(r"'(\w+)'", check)) == sorted(OUTCOMES)
