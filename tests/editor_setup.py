"""The marketer's editor in tests: a signed-in marketer's form posts over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from starlette.applications import Starlette

from tests.admin_session import CSRF, signed_in

FORM = {
    "name": "Spring newsletter", "subject": "Our Spring Newsletter",
    "teaser": "News and hours from Riverside Clinic",
    "content": "Our new parking garage opens in April.",
    "links": "https://riverside.example/news\r\nhttps://riverside.example/hours\r\n",
    "tracking": "on", "rate_per_second": "1000", "scheduled_at": "",
}


async def marketer(app: Starlette, client: httpx.AsyncClient, key: str) -> str:
    """Signs the marketer in; the session's CSRF token."""
    await signed_in(app, client, key)
    page = await client.get("/admin/campaigns/new")
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


async def create_draft(client: httpx.AsyncClient, csrf: str, **changes: Any) -> str:
    response = await client.post("/admin/campaigns/new",
                                 data={**FORM, **changes, "csrf": csrf, "intent": "create"})
    assert response.status_code == 303, response.text
    return response.headers["location"].rsplit("/", 1)[1]


async def upload_page(client: httpx.AsyncClient, campaign: str, csrf: str | None, data: bytes,
                      content_type: str = "text/csv") -> httpx.Response:
    fields = {"csrf": csrf} if csrf is not None else {}
    return await client.post(f"/admin/campaigns/{campaign}/audience", data=fields,
                             files={"audience": ("patients.csv", data, content_type)})


async def staged(app: Starlette, campaign: str) -> list[bytes]:
    rows = await app.state.resources.db.fetch(
        "SELECT email_index FROM campaign_audience WHERE campaign_id = $1 ORDER BY 1",
        uuid.UUID(campaign))
    return [row["email_index"] for row in rows]
