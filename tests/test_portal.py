"""/p/{token}: scanners learn nothing from GET; POST reveals, behind verification and lockout."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from service.core.config import Settings
from service.devtools.relay import Mailbox
from tests.conftest import run_worker
from tests.helpers import REMINDER, portal_token, send

CONTENT = REMINDER["content"]


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


async def test_get_reveals_nothing_and_changes_nothing(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    app: Starlette,
) -> None:
    token = await delivered_token(client, keys["sender"], settings, mailbox,
                                  verification="1980-03-14")
    before = await snapshot(app)
    unknown = await client.get("/p/" + "A" * 43)
    for _ in range(3):
        page = await client.get(f"/p/{token}")
        assert page.status_code == 200
        assert CONTENT not in page.text
        assert "Show my message" in page.text
        assert page.text == unknown.text  # GET does not even say whether the token exists
    assert await snapshot(app) == before


async def test_post_reveals_the_content(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> None:
    token = await delivered_token(client, keys["sender"], settings, mailbox)
    page = await client.post(f"/p/{token}")
    assert page.status_code == 200
    assert CONTENT in page.text


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
                                  verification="1980-03-14")
    asked = await client.post(f"/p/{token}")
    assert asked.status_code == 200
    assert CONTENT not in asked.text and 'name="answer"' in asked.text
    wrong = await client.post(f"/p/{token}", data={"answer": "1999-01-01"})
    assert wrong.status_code == 422
    assert CONTENT not in wrong.text and "did not match" in wrong.text
    right = await client.post(f"/p/{token}", data={"answer": " 1980-03-14 "})
    assert right.status_code == 200
    assert CONTENT in right.text


async def test_wrong_answers_lock_the_message(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> None:
    token = await delivered_token(client, keys["sender"], settings, mailbox,
                                  verification="1980-03-14")
    for _ in range(settings.verification_max_failures - 1):
        assert (await client.post(f"/p/{token}", data={"answer": "nope"})).status_code == 422
    locked = await client.post(f"/p/{token}", data={"answer": "nope"})
    assert locked.status_code == 404
    after = await client.post(f"/p/{token}", data={"answer": "1980-03-14"})
    assert after.status_code == 404
    assert CONTENT not in after.text


async def test_unknown_expired_and_locked_links_look_the_same(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    app: Starlette,
) -> None:
    token = await delivered_token(client, keys["sender"], settings, mailbox)
    await app.state.resources.db.execute("UPDATE messages SET expires_at = now() - interval '1 s'")
    expired = await client.post(f"/p/{token}")
    unknown = await client.post("/p/" + "B" * 43)
    malformed = await client.post("/p/short")
    assert expired.status_code == unknown.status_code == malformed.status_code == 404
    assert expired.text == unknown.text == malformed.text
    assert CONTENT not in expired.text


async def test_expired_content_is_deleted(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    app: Starlette,
) -> None:
    from service.worker.jobs import purge

    await delivered_token(client, keys["sender"], settings, mailbox)
    db = app.state.resources.db
    await db.execute("UPDATE messages SET expires_at = now() - interval '1 s'")
    await purge(db)
    row = await db.fetchrow("SELECT content_sealed, verification_hash FROM messages")
    assert row["content_sealed"] is None and row["verification_hash"] is None


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_portal_pages_carry_privacy_headers(
    client: httpx.AsyncClient, method: str
) -> None:
    page = await client.request(method, "/p/" + "C" * 43)
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp  # no script allowed at all
    assert "http" not in page.text.replace('href="/static/portal.css"', "")
    css = await client.get("/static/portal.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]


async def test_oversized_portal_form_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/p/" + "D" * 43, data={"answer": "x" * 10_000})
    assert response.status_code == 413
