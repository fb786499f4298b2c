"""/p/{token}: scanners learn nothing from GET; POST reveals, behind verification and lockout."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from service.core.config import Settings
from service.devtools.relay import Mailbox
from tests.conftest import run_worker
from tests.helpers import REMINDER, portal_token, send

CONTENT = REMINDER["content"]


def strip_tags(page: str) -> str:
    return re.sub(r"<[^>]+>", "", page)


async def delivered_token(
    client: httpx.AsyncClient, key: str, settings: Settings, mailbox: Mailbox,
    **changes: Any,
) -> str:
    response = await send(client, key, {**REMINDER, **changes})
    assert response.status_code == 202
    await run_worker(settings)
    return portal_token(mailbox.messages[-1][2])


async def snapshot(app: Starlette) -> list[Any]:
    rows = await app.state.resources.db.fetch("SELECT * FROM messages ORDER BY id")
    return [dict(r) for r in rows]


def sent_today() -> str:
    """How the pages write today's date (UTC), the day the tests send their messages."""
    today = dt.datetime.now(dt.UTC).date()
    return f"{today.day} {today:%B %Y}"


def says_how_to_call(page: httpx.Response) -> bool:
    return 'call <a href="tel:+15550100">+1 555 0100</a>' in page.text


async def test_get_reveals_nothing_and_changes_nothing(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    app: Starlette,
) -> None:
    token = await delivered_token(client, keys["sender"], settings, mailbox,
                                  verification="1980-03-14")
    before = await snapshot(app)
    for _ in range(3):
        page = await client.get(f"/p/{token}")
        assert page.status_code == 200
        assert CONTENT not in page.text
        assert "Show my message" in page.text
        assert "You have a secure message from Riverside Clinic" in page.text
        assert f"Sent {sent_today()}" in strip_tags(page.text)
        assert "If you were not expecting a message from Riverside Clinic, do not enter " \
            "anything here; call +1 555 0100." in strip_tags(page.text)
    assert await snapshot(app) == before
    unknown = await client.get("/p/" + "A" * 43)
    assert unknown.status_code == 404 and "Sent" not in unknown.text


async def test_post_reveals_the_content_again_and_again_until_it_expires(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> None:
    token = await delivered_token(client, keys["sender"], settings, mailbox)
    for _ in range(2):  # no read-once rule: the link works until the message expires
        page = await client.post(f"/p/{token}")
        assert page.status_code == 200
        assert CONTENT in page.text
    text = strip_tags(page.text)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=settings.portal_ttl_seconds)
    assert f"Sent {sent_today()}" in text
    assert "Questions about this message? Call +1 555 0100." in text
    assert f"until {until.day} {until:%B %Y}" in text
    assert "Print command" in text
    assert text.index(CONTENT) < text.index("Questions about this message?")
    assert "muted" not in page.text and "Close this window" not in page.text


async def test_content_is_html_escaped(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> None:
    token = await delivered_token(client, keys["sender"], settings, mailbox,
                                  content="<script>alert(1)</script> ok")
    page = await client.post(f"/p/{token}")
    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; ok" in page.text


async def test_verification_answer_is_required(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> None:
    token = await delivered_token(client, keys["sender"], settings, mailbox,
                                  verification="Blue Heron")
    asked = await client.post(f"/p/{token}")
    assert asked.status_code == 200
    assert CONTENT not in asked.text and 'name="answer"' in asked.text
    assert 'type="date"' not in asked.text
    assert '<label for="answer">The answer your care team gave you</label>' in asked.text
    assert "Capital letters and spaces do not matter." in asked.text
    assert "You have 5 tries." in asked.text and "After 5 wrong answers" in asked.text
    assert 'aria-describedby="answer-format answer-tries"' in asked.text
    assert "aria-invalid" not in asked.text
    wrong = await client.post(f"/p/{token}", data={"answer": "1999-01-01"})
    assert wrong.status_code == 422
    assert CONTENT not in wrong.text
    assert "That answer did not match. 4 tries left." in wrong.text
    assert 'aria-describedby="answer-format answer-tries answer-error" aria-invalid="true"' \
        in wrong.text
    back = await client.post(f"/p/{token}")  # a new visit says what is left
    assert "4 tries left." in back.text and "did not match" not in back.text
    right = await client.post(f"/p/{token}", data={"answer": " blue  heron "})
    assert right.status_code == 200
    assert CONTENT in right.text


async def test_a_date_answer_opens_with_any_common_spelling(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> None:
    token = await delivered_token(
        client, keys["sender"], settings, mailbox, verification="1980-03-14",
        verification_format="date", verification_hint="your date of birth")
    asked = await client.post(f"/p/{token}")
    assert '<label for="answer">Your date of birth</label>' in asked.text
    assert "Riverside Clinic asks for your date of birth before showing it." in asked.text
    assert 'type="date"' in asked.text and "for example 03/14/1980" in asked.text
    for typed in ("1980-03-14", "03/14/1980", "3/14/1980", "03-14-1980", "March 14, 1980",
                  "14 March 1980", "1980-3-14", "mar 14th 1980"):
        page = await client.post(f"/p/{token}", data={"answer": typed})
        assert page.status_code == 200, typed
        assert CONTENT in page.text
    wrong = await client.post(f"/p/{token}", data={"answer": "14/03/1980"})  # no month 14
    assert wrong.status_code == 422 and "could not read that as a date" in wrong.text
    assert "You have 5 tries." in wrong.text  # neither a blank nor an unreadable answer counts
    blank = await client.post(f"/p/{token}", data={"answer": "  "})
    assert blank.status_code == 422 and "Please enter your answer." in blank.text
    other = await client.post(f"/p/{token}", data={"answer": "04/14/1980"})
    assert other.status_code == 422 and "That answer did not match. 4 tries left." in other.text


async def test_wrong_answers_lock_the_message(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> None:
    token = await delivered_token(client, keys["sender"], settings, mailbox,
                                  verification="1980-03-14")
    for _ in range(settings.verification_max_failures - 2):
        assert (await client.post(f"/p/{token}", data={"answer": "nope"})).status_code == 422
    last = await client.post(f"/p/{token}", data={"answer": "nope"})
    assert "That answer did not match. 1 try left." in last.text
    for after in (await client.post(f"/p/{token}", data={"answer": "nope"}),
                  await client.post(f"/p/{token}", data={"answer": "1980-03-14"}),
                  await client.get(f"/p/{token}")):
        assert after.status_code == 404
        assert CONTENT not in after.text
        assert "This message is locked" in after.text and "too many wrong answers" in after.text
        assert says_how_to_call(after)


async def test_expired_and_unknown_links_say_what_happened(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    app: Starlette,
) -> None:
    token = await delivered_token(client, keys["sender"], settings, mailbox)
    await app.state.resources.db.execute(
        "UPDATE messages SET expires_at = '2026-03-01 12:00:00+00'")
    for expired in (await client.post(f"/p/{token}"), await client.get(f"/p/{token}")):
        assert expired.status_code == 404
        assert "This message expired on 1 March 2026" in strip_tags(expired.text)
        assert CONTENT not in expired.text and says_how_to_call(expired)
    unknown = await client.post("/p/" + "B" * 43)
    malformed = await client.post("/p/short")
    assert unknown.status_code == malformed.status_code == 404
    assert unknown.text == malformed.text == (await client.get("/p/" + "B" * 43)).text
    assert "This message is not available" in unknown.text and says_how_to_call(unknown)
    assert "expired" not in unknown.text and "locked" not in unknown.text


async def test_a_tracking_link_that_is_not_ours_names_the_clinic(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/t/c/" + "E" * 43)
    assert page.status_code == 404
    assert "This link is not available" in page.text and says_how_to_call(page)


async def test_expired_content_is_deleted(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    app: Starlette,
) -> None:
    from service.worker.jobs import purge

    await delivered_token(client, keys["sender"], settings, mailbox, verification="x1",
                          verification_hint="the word on your card")
    db = app.state.resources.db
    await db.execute("UPDATE messages SET expires_at = now() - interval '1 s'")
    await purge(db)
    row = await db.fetchrow(
        "SELECT content_sealed, verification_hash, verification_hint_sealed FROM messages")
    assert list(row.values()) == [None, None, None]


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_portal_pages_carry_privacy_headers(
    client: httpx.AsyncClient, method: str
) -> None:
    page = await client.request(method, "/p/" + "C" * 43)
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "<script" not in page.text  # the portal runs no script
    # Every asset from the service's own origin (links to the clinic's website are not assets).
    assets = re.findall(r'<(?:img|link|script)[^>]+(?:src|href)="([^"]*)"', page.text)
    assert assets and all(url.startswith("/static/") for url in assets)
    css = await client.get("/static/portal.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]


async def test_oversized_portal_form_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/p/" + "D" * 43, data={"answer": "x" * 10_000})
    assert response.status_code == 413
