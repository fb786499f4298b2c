"""The patient-facing pages in headless Chromium: the portal, the double opt-in confirmation and
the one-click unsubscribe, each driven as a person would (open the link, read, click)."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page
from starlette.applications import Starlette

from service.core.config import Settings
from service.devtools.relay import Mailbox
from tests.browser import browser_page, check_page, live_server, screenshot
from tests.conftest import run_worker
from tests.helpers import auth, parse_mail, send
from tests.test_consent_flow import NEWSLETTER, authorization, link, new_contact, state


def watch_console(page: Page) -> list[str]:
    """Script errors, CSP violations and failed sub-resources (the stylesheet, say). The
    browser's own favicon probe is not ours, and a page's own status is checked by the test."""
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text)
            if m.type == "error" and "Failed to load resource" not in m.text else None)
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and r.request.resource_type != "document"
            and not r.url.endswith("/favicon.ico") else None)
    return problems


async def test_confirmation_and_one_click_unsubscribe_pages(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    contact = await new_contact(client, keys["sender"])
    created = await client.post(f"/v1/contacts/{contact}/authorizations", json=authorization(),
                                headers=auth(keys["marketer"]))
    assert created.status_code == 201
    await run_worker(settings)
    confirm_token = link(mailbox.messages[-1][2], "c")

    async with live_server(app) as base, browser_page() as page:
        problems = watch_console(page)
        await page.goto(f"{base}/c/{confirm_token}")
        assert "Yes, confirm" in await page.inner_text("body")
        marketing = (await state(client, keys["sender"], contact))["marketing"]
        assert marketing == {"allowed": False, "reason": "authorization_unconfirmed"}
        await check_page(page, "confirm")
        await page.get_by_role("button", name="Yes, confirm").click()
        await page.wait_for_selector("text=Your choice is confirmed")
        await check_page(page, "confirmed")
        assert (await state(client, keys["sender"], contact))["marketing"]["allowed"]

        assert (await send(client, keys["sender"], NEWSLETTER)).status_code == 202
        await run_worker(settings)
        header = parse_mail(mailbox.messages[-1][2])["List-Unsubscribe"]
        found = re.fullmatch(r"<https://portal\.clinic\.test(/u/[A-Za-z0-9_-]{43})>", header)
        assert found is not None
        await page.goto(base + found.group(1))
        assert "Only newsletters and offers" in await page.inner_text("body")  # the default
        assert (await state(client, keys["sender"], contact))["marketing"]["allowed"]
        await screenshot(page, "unsubscribe-page")
        await page.get_by_role("button", name="Unsubscribe").click()
        await page.wait_for_selector("text=You are unsubscribed")
        assert await page.context.cookies() == []
        marketing = (await state(client, keys["sender"], contact))["marketing"]
        assert marketing == {"allowed": False, "reason": "unsubscribed"}
        assert problems == []
