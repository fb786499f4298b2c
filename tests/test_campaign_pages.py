"""The staff campaign pages: the list and one campaign for admins and marketers, the pause,
resume and cancel forms over HTTP (CSRF, same origin, a refused move shown on the page), and
an admin pausing and resuming a running campaign in Chromium, each page checked by axe-core at
360 and 1440 px."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from playwright.async_api import Page
from starlette.applications import Starlette

from service.access import create_api_key
from service.core.config import Settings
from service.devtools.relay import Mailbox
from tests.admin_session import CSRF, enrolled, fill_sign_in, fresh_code, signed_in
from tests.browser import browser_page, check_page, live_server
from tests.campaign_setup import (
    audience_csv,
    authorize_all,
    create,
    marketer_key_id,
    progress,
    sent_campaign,
    upload,
)
from tests.conftest import run_worker
from tests.helpers import auth
from tests.test_pages_browser import watch_console

READERS = [f"reader{n}@example.org" for n in range(30)]


async def running(app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
                  settings: Settings, name: str = "Flu shot reminders") -> str:
    """A campaign fanned out and sending, its 30 messages due in an hour: it stays running."""
    await authorize_all(app, READERS, await marketer_key_id(app))
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    campaign = await create(client, keys["marketer"], name=name, rate_per_second=2,
                            scheduled_at=later)
    strangers = ["stranger1@example.org", "stranger2@example.org"]  # never authorized
    await upload(client, keys["marketer"], campaign, audience_csv([*READERS, *strangers]))
    sent = await client.post(f"/v1/campaigns/{campaign}/send", headers=auth(keys["marketer"]))
    assert sent.status_code == 202
    await run_worker(settings)
    assert (await progress(client, keys["marketer"], campaign))["status"] == "sending"
    return campaign


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


def text(page: httpx.Response) -> str:
    """The page's words, without its markup."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))


async def move(client: httpx.AsyncClient, campaign: str, verb: str, csrf: str | None,
               **extra: Any) -> httpx.Response:
    form = {"csrf": csrf, **extra} if csrf is not None else extra
    return await client.post(f"/admin/campaigns/{campaign}/{verb}", data=form)


async def test_a_marketer_and_an_admin_see_the_campaigns_with_their_progress(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
) -> None:
    await signed_in(app, client, keys["marketer"])
    empty = await client.get("/admin/campaigns")
    assert empty.status_code == 200
    assert "You have no campaign yet" in empty.text
    assert 'href="/admin/campaigns/new">Create a campaign</a>' in empty.text

    campaign = await running(app, client, keys, settings)
    listed = await client.get("/admin/campaigns")
    words = text(listed)
    assert f'href="/admin/campaigns/{campaign}"' in listed.text
    assert "Flu shot reminders" in words and "Sending" in words
    assert '<progress max="30" value="0"' in listed.text
    assert "0 of 30 messages handled (0%)" in words
    for count in ("Sent 0", "Retrying 0", "Failed 0", "Bounced 0"):
        assert count in words
    # Due in an hour at 2 a second: the last of 30 goes 3600 + 14.5 seconds from now.
    assert "Last message goes in about 60 minutes" in words

    detail = await client.get(f"/admin/campaigns/{campaign}")
    assert detail.status_code == 200
    words = text(detail)
    assert "Status: Sending" in words and "Waiting 30" in words
    assert "Of 32 addresses staged." in words and "No authorization 2" in words
    assert "Pause" in words and "Cancel campaign" in words and "Resume" not in words

    draft = await create(client, keys["marketer"], name="Autumn draft")
    drafted = await client.get(f"/admin/campaigns/{draft}")
    assert drafted.status_code == 200 and "Autumn draft" in drafted.text
    assert f"/admin/campaigns/{draft}/audience" in drafted.text  # the editor's page

    admin = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                              base_url="https://portal.clinic.test")
    async with admin:
        await signed_in(app, admin, keys["admin"])
        seen = await admin.get("/admin/campaigns")
        assert "Flu shot reminders" in seen.text and "Autumn draft" in seen.text
        assert "Create a campaign" not in seen.text
        assert (await admin.get(f"/admin/campaigns/{campaign}")).status_code == 200
        assert (await admin.get("/admin/campaigns?cursor=junk")).status_code == 422
        one = await admin.get("/admin/campaigns?limit=1")
        older = re.search(r'href="(/admin/campaigns\?cursor=[^"]+)">Older campaigns', one.text)
        assert older is not None and "Autumn draft" in one.text
        rest = await admin.get(older.group(1))
        assert "Flu shot reminders" in rest.text and "Autumn draft" not in rest.text


async def test_an_admin_is_told_that_marketers_create_campaigns(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    await signed_in(app, client, keys["admin"])
    page = await client.get("/admin/campaigns")
    assert "Marketers create campaigns" in page.text
    assert "/admin/campaigns/new" not in page.text


async def test_another_marketers_campaign_is_not_found(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
) -> None:
    campaign = await running(app, client, keys, settings)
    other = await create_api_key(app.state.resources.db, "marketer", "other team")
    await signed_in(app, client, other)
    listed = await client.get("/admin/campaigns")
    assert "Flu shot reminders" not in listed.text and "no campaign yet" in listed.text
    assert (await client.get(f"/admin/campaigns/{campaign}")).status_code == 404
    assert (await client.get("/admin/campaigns/not-an-id")).status_code == 404
    csrf = csrf_of(listed)
    assert (await move(client, campaign, "pause", csrf)).status_code == 404
    assert (await progress(client, keys["marketer"], campaign))["status"] == "sending"


async def test_pause_resume_and_cancel_forms(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
) -> None:
    campaign = await running(app, client, keys, settings)
    await signed_in(app, client, keys["marketer"])
    csrf = csrf_of(await client.get(f"/admin/campaigns/{campaign}"))

    assert (await move(client, campaign, "pause", None)).status_code == 403
    assert (await move(client, campaign, "pause", "0" * 64)).status_code == 403
    foreign = await client.post(f"/admin/campaigns/{campaign}/pause", data={"csrf": csrf},
                                headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert (await progress(client, keys["marketer"], campaign))["status"] == "sending"

    paused = await move(client, campaign, "pause", csrf)
    assert paused.status_code == 303
    assert paused.headers["location"] == f"/admin/campaigns/{campaign}?notice=paused"
    page = await client.get(paused.headers["location"])
    assert "Paused: nothing more is sent until you resume." in page.text
    assert "Status: Paused" in text(page) and "Resume" in page.text
    assert (await progress(client, keys["marketer"], campaign))["status"] == "paused"

    again = await move(client, campaign, "pause", csrf)
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("text/html")
    assert "Only a running campaign can be paused" in again.text

    resumed = await move(client, campaign, "resume", csrf)
    assert resumed.headers["location"].endswith("?notice=resumed")
    assert (await progress(client, keys["marketer"], campaign))["status"] == "sending"

    unconfirmed = await move(client, campaign, "cancel", csrf)
    assert unconfirmed.status_code == 422
    assert "Tick the box to confirm" in unconfirmed.text
    assert (await progress(client, keys["marketer"], campaign))["status"] == "sending"
    cancelled = await move(client, campaign, "cancel", csrf, confirm="yes")
    assert cancelled.headers["location"].endswith("?notice=cancelled")
    numbers = await progress(client, keys["marketer"], campaign)
    assert numbers["status"] == "cancelled" and numbers["progress"]["rejected"] == 30
    ended = await client.get(f"/admin/campaigns/{campaign}")
    assert "This campaign has ended" in ended.text and "<form class=\"move\"" not in ended.text
    refused = await move(client, campaign, "resume", csrf)
    assert refused.status_code == 409 and "Only a paused campaign can be resumed" in refused.text


async def test_an_admin_may_pause_resume_and_cancel_through_the_api(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
) -> None:
    campaign = await running(app, client, keys, settings)
    for verb, status in (("pause", "paused"), ("resume", "sending"), ("cancel", "cancelled")):
        moved = await client.post(f"/v1/campaigns/{campaign}/{verb}", headers=auth(keys["admin"]))
        assert moved.status_code == 200 and moved.json()["status"] == status
    assert (await client.post(f"/v1/campaigns/{campaign}/pause",
                              headers=auth(keys["sender"]))).status_code == 403


@asynccontextmanager
async def staff_browser(app: Starlette, key: str) -> AsyncIterator[tuple[Page, list[str]]]:
    """Chromium signed in to the staff pages with ``key``, on the engagement page; and the
    console's problems (CSP violations, script errors) as they come."""
    secret = await enrolled(app, key)
    async with live_server(app) as base, browser_page() as page:
        problems = watch_console(page)
        await page.goto(f"{base}/admin/login")
        await fill_sign_in(page, key, await fresh_code(app, secret))
        await page.wait_for_url(f"{base}/admin")
        yield page, problems


async def test_an_admin_pauses_and_resumes_a_campaign_in_the_browser(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    async with staff_browser(app, keys["admin"]) as (page, problems):
        await page.get_by_role("link", name="Campaigns").click()
        await page.wait_for_selector("text=Marketers create campaigns")
        await check_page(page, "campaigns-empty")

        await sent_campaign(app, client, keys, settings, mailbox, 12,
                            name="Spring newsletter for every patient of the clinic")
        await running(app, client, keys, settings)
        await page.reload()
        await check_page(page, "campaigns")
        await page.get_by_role("link", name="Flu shot reminders").click()
        await page.wait_for_selector("h1:has-text('Flu shot reminders')")
        await check_page(page, "campaign-detail")

        await page.get_by_role("button", name="Pause").click()
        await page.wait_for_selector("text=Paused: nothing more is sent")
        assert "Paused" in await page.inner_text("main")
        await page.get_by_role("button", name="Resume").click()
        await page.wait_for_selector("text=Resumed: the waiting messages")
        assert "Status: Sending" in await page.inner_text("main")

        await page.get_by_role("button", name="Cancel campaign").click()
        assert await page.locator("#confirm:invalid").count() == 1  # the browser asks first
        await page.get_by_label("Yes, cancel it").check()
        await page.get_by_role("button", name="Cancel campaign").click()
        await page.wait_for_selector("text=Cancelled: the messages still waiting")
        await check_page(page, "campaign-cancelled")
        assert problems == []
