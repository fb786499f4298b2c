"""The preference centre behind the unsubscribe link, over HTTP against the real database, worker
and relay: GET changes nothing, the one-click POST stays RFC 8058's (marketing only), each choice
writes its ledger rows once and really changes what the API accepts, bad input gets a page."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from starlette.applications import Starlette

from service.audit import verify_chain
from service.consent.choices import Choice, in_effect, parse_choice, to_revoke
from service.consent.policy import ALLOW, Decision, Purpose, Refusal
from service.core.config import Settings
from service.devtools.relay import Mailbox
from tests.conftest import run_worker
from tests.helpers import REMINDER, send
from tests.test_consent_flow import NEWSLETTER, authorise_and_confirm, link, state

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
OPERATIONS = {**REMINDER, "purpose": "operations"}
REVOKES = ("SELECT purpose, source, actor FROM consent_events WHERE action = 'revoke' "
           "ORDER BY id")
LOCK_WAITS = ("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
              "AND datname = current_database()")
PATIENT_AUDIT = ("SELECT action, object_type, outcome, detail FROM audit_log "
                 "WHERE actor = 'patient' AND action = 'consent.revoke' ORDER BY id")

ALLOWED = {"allowed": True, "reason": None}
UNSUBSCRIBED_ONLY = {"treatment": ALLOWED, "operations": ALLOWED,
                     "marketing": {"allowed": False, "reason": "unsubscribed"}}
# After the wider choice: all but care stopped.
CARE_ONLY = {**UNSUBSCRIBED_ONLY, "operations": {"allowed": False, "reason": "opted_out"}}

OPEN, UNSUBSCRIBED = ALLOW, Decision(False, Refusal.UNSUBSCRIBED)
OPTED_OUT, PENDING = Decision(False, Refusal.OPTED_OUT), Decision(False, Refusal.UNCONFIRMED)


@pytest.mark.parametrize(("choice", "marketing", "operations", "revoke", "after"), [
    ("marketing", OPEN, OPEN, ["marketing"], None),
    ("non_treatment", OPEN, OPEN, ["marketing", "operations"], None),
    ("marketing", UNSUBSCRIBED, OPEN, [], "marketing"),  # posted twice: nothing more
    ("non_treatment", UNSUBSCRIBED, OPEN, ["operations"], "marketing"),
    ("non_treatment", UNSUBSCRIBED, OPTED_OUT, [], "non_treatment"),
    # A pending authorization is revoked too: its confirmation link must not start marketing.
    ("marketing", PENDING, OPEN, ["marketing"], None),
    # Operations stopped through the API, marketing still on: neither choice is in effect yet.
    ("marketing", OPEN, OPTED_OUT, ["marketing"], None),
    ("marketing", Decision(False, Refusal.NO_AUTHORIZATION), OPTED_OUT, [], "non_treatment"),
])
def test_what_each_choice_revokes_and_what_is_in_effect(
    choice: Choice, marketing: Decision, operations: Decision, revoke: list[str],
    after: Choice | None,
) -> None:
    ledger = {"marketing": marketing, "operations": operations, "treatment": ALLOW}

    def read(purpose: Purpose) -> Decision:
        return ledger[purpose]

    assert to_revoke(choice, read) == revoke
    assert in_effect(read) == after


@pytest.mark.parametrize("value", [None, "", "treatment", "MARKETING", "marketing "])
def test_only_the_two_choices_parse(value: str | None) -> None:
    assert parse_choice(value) is None


async def marketing_link(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> tuple[str, str]:
    """A confirmed contact and the path of the unsubscribe link in a newsletter delivered to it."""
    contact = await authorise_and_confirm(client, keys, settings, mailbox)
    assert (await send(client, keys["sender"], NEWSLETTER)).status_code == 202
    await run_worker(settings)
    # The link a patient clicks, in the email's text (test_visible_optout: the header's twin).
    return contact, f"/u/{link(mailbox.messages[-1][2], 'u')}"


async def choose(client: httpx.AsyncClient, path: str, body: bytes) -> httpx.Response:
    return await client.post(f"{path}/preferences", content=body, headers=FORM)


async def test_the_page_offers_both_choices_and_changes_nothing(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    app: Starlette,
) -> None:
    contact, path = await marketing_link(client, keys, settings, mailbox)
    before = await state(client, keys["sender"], contact)
    db = app.state.resources.db
    rows = await db.fetchval("SELECT count(*) FROM consent_events")
    for _ in range(2):  # a link scanner, then the patient
        page = await client.get(path)
        assert page.status_code == 200 and "set-cookie" not in page.headers
    assert await state(client, keys["sender"], contact) == before
    assert await db.fetchval("SELECT count(*) FROM consent_events") == rows
    text = page.text
    assert f'<form method="post" action="{path}/preferences">' in text
    assert "<legend>Which emails do you want to stop?</legend>" in text
    assert ('value="marketing" aria-describedby="choice-marketing-hint" checked>' in text)
    assert 'value="non_treatment" aria-describedby="choice-non-treatment-hint">' in text
    assert "surveys, office news and billing notices" in text
    assert "appointment reminders and secure messages from your care team" in text
    assert 'please call <a href="tel:+15550100">+1 555 0100</a>' in text
    assert text.count('<button type="submit">') == 1


async def test_the_one_click_post_still_stops_marketing_only(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    app: Starlette,
) -> None:
    contact, path = await marketing_link(client, keys, settings, mailbox)
    for _ in range(2):
        # Even a body that names the wider choice: the one-click URL is marketing's alone.
        one_click = await client.post(
            path, content=b"List-Unsubscribe=One-Click&choice=non_treatment", headers=FORM)
        assert one_click.status_code == 200 and "set-cookie" not in one_click.headers
        assert "no more marketing emails from Riverside Clinic" in one_click.text
    assert await state(client, keys["sender"], contact) == UNSUBSCRIBED_ONLY
    rows = await app.state.resources.db.fetch(REVOKES)
    assert [tuple(r) for r in rows] == [("marketing", "unsubscribe_link", "patient")]


async def test_the_wider_choice_stops_operations_and_leaves_care(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    app: Starlette,
) -> None:
    contact, path = await marketing_link(client, keys, settings, mailbox)
    assert (await send(client, keys["sender"], OPERATIONS)).status_code == 202
    for _ in range(2):  # idempotent: the second post writes nothing
        saved = await choose(client, path, b"choice=non_treatment")
        assert saved.status_code == 200 and "set-cookie" not in saved.headers
        assert "<h1>You are unsubscribed</h1>" in saved.text
        assert ("You will get no more emails from Riverside Clinic except about your care."
                in saved.text)
        assert "please call <a href" in saved.text
    assert await state(client, keys["sender"], contact) == CARE_ONLY
    refused = await send(client, keys["sender"], OPERATIONS)
    assert (refused.status_code, refused.json()["reason"]) == (422, "opted_out")
    refused = await send(client, keys["sender"], NEWSLETTER)
    assert (refused.status_code, refused.json()["reason"]) == (422, "unsubscribed")
    assert (await send(client, keys["sender"], REMINDER)).status_code == 202

    db = app.state.resources.db
    assert [tuple(r) for r in await db.fetch(REVOKES)] == [
        ("marketing", "unsubscribe_link", "patient"),
        ("operations", "preference_centre", "patient"),
    ]
    audited = [tuple(r) for r in await db.fetch(PATIENT_AUDIT)]
    assert [row[:3] for row in audited] == [
        ("consent.revoke", "contact", "unsubscribed"), ("consent.revoke", "contact", "opted_out")]
    assert [row[3].split()[0] for row in audited] == ["marketing", "operations"]
    async with db.acquire() as conn:
        assert await verify_chain(conn) is None
    # The page now starts from what is stopped.
    assert 'value="non_treatment" aria-describedby="choice-non-treatment-hint" checked>' in (
        await client.get(path)).text


async def test_marketing_only_keeps_operations_and_can_widen_later(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    app: Starlette,
) -> None:
    contact, path = await marketing_link(client, keys, settings, mailbox)
    saved = await choose(client, path, b"choice=marketing")
    assert saved.status_code == 200
    assert ("You will get no more newsletters or offers from Riverside Clinic by email."
            in saved.text)
    assert f'<a href="{path}">change your choice</a>' in saved.text
    assert (await send(client, keys["sender"], OPERATIONS)).status_code == 202
    refused = await send(client, keys["sender"], NEWSLETTER)
    assert (refused.status_code, refused.json()["reason"]) == (422, "unsubscribed")

    widened = await choose(client, path, b"choice=non_treatment")
    assert "except about your care" in widened.text
    assert (await state(client, keys["sender"], contact))["operations"] == {
        "allowed": False, "reason": "opted_out"}
    # Marketing was revoked once; narrowing again does not restart operations.
    assert "except about your care" in (await choose(client, path, b"choice=marketing")).text
    assert [r["purpose"] for r in await app.state.resources.db.fetch(REVOKES)] == [
        "marketing", "operations"]


async def test_a_form_sent_twice_at_once_writes_once(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    app: Starlette,
) -> None:
    contact, path = await marketing_link(client, keys, settings, mailbox)
    db = app.state.resources.db
    # A slow ledger write: every post stops at a lock (the marketing state row, which the
    # ledger's trigger takes, or the contact's), so all of them overlap, every run.
    async with db.acquire() as holder, holder.transaction():
        await holder.execute("SELECT 1 FROM marketing_consent WHERE contact_id = $1 FOR UPDATE",
                             uuid.UUID(contact))
        posts = asyncio.gather(*(choose(client, path, b"choice=non_treatment")
                                 for _ in range(4)))
        async with asyncio.timeout(10):
            # Asked from outside the transaction, whose view of the statistics stays as it was.
            while await db.fetchval(LOCK_WAITS) < 4:  # noqa: ASYNC110 - no event for lock waits
                await asyncio.sleep(0.01)
    answers = await posts
    assert [a.status_code for a in answers] == [200] * 4
    assert [r["purpose"] for r in await db.fetch(REVOKES)] == ["marketing", "operations"]


@pytest.mark.parametrize("body", [b"", b"choice=", b"choice=treatment", b"choice=all",
                                  b"List-Unsubscribe=One-Click"])
async def test_a_missing_or_unknown_choice_asks_again(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    app: Starlette, body: bytes,
) -> None:
    contact, path = await marketing_link(client, keys, settings, mailbox)
    answer = await choose(client, path, body)
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")
    assert '<p class="error" role="alert" id="choice-error">Please choose' in answer.text
    assert '<fieldset aria-describedby="choice-error">' in answer.text
    assert f'action="{path}/preferences"' in answer.text
    assert (await state(client, keys["sender"], contact))["marketing"]["allowed"]
    assert await app.state.resources.db.fetch(REVOKES) == []


async def test_a_nul_in_the_choice_is_a_problem_naming_it(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> None:
    _, path = await marketing_link(client, keys, settings, mailbox)
    answer = await choose(client, path, b"choice=market%00ing")
    assert answer.status_code == 422
    assert answer.json()["fields"] == ["choice"]


async def test_an_unknown_link_gets_the_generic_page(client: httpx.AsyncClient) -> None:
    for token in ("A" * 43, "short", "A" * 42 + "B"):
        for answer in (await client.get(f"/u/{token}"),
                       await choose(client, f"/u/{token}", b"choice=marketing"),
                       await choose(client, f"/u/{token}", b"choice=nonsense")):
            assert answer.status_code == 404
            assert "This link is not available" in answer.text
