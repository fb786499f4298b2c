"""The secure-message portal in headless Chromium, driven as a patient would: open the link,
read who wrote and when, answer the question (wrong, then right, in a text field and in the date
field), read and print the message; then the locked, expired and unknown pages. Each page is
scanned by axe-core at a phone's and a desktop's width (tests/browser.py)."""

from __future__ import annotations

import datetime as dt

import httpx
from playwright.async_api import Page
from starlette.applications import Starlette

from service.core.config import Settings
from service.devtools.relay import Mailbox
from tests.browser import browser_page, check_page, live_server, screenshot
from tests.helpers import REMINDER
from tests.test_pages_browser import watch_console
from tests.test_portal import delivered_token

CONTENT = REMINDER["content"]
HINTED = {**REMINDER, "verification": "1980-03-14", "verification_format": "date",
          "verification_hint": "your date of birth"}


async def show(page: Page) -> None:
    await page.get_by_role("button", name="Show my message").click()


async def visible(page: Page, selector: str) -> bool:
    return await page.locator(selector).first.is_visible()


async def test_a_patient_reads_a_message_behind_a_date_question(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    token = await delivered_token(client, keys["sender"], settings, mailbox, **HINTED)
    today = dt.datetime.now(dt.UTC).date()
    async with live_server(app) as base, browser_page() as page:
        problems = watch_console(page)
        await page.goto(f"{base}/p/{token}")
        body = await page.inner_text("body")
        assert "You have a secure message from Riverside Clinic" in body
        assert f"Sent {today.day} {today:%B %Y}" in body
        assert "If you were not expecting a message from Riverside Clinic, do not enter " \
            "anything here; call +1 555 0100." in body
        assert "riverside.clinic.test" in body and CONTENT not in body
        button = page.get_by_role("button", name="Show my message")
        colour = await button.evaluate("b => getComputedStyle(b).backgroundColor")
        assert colour == "rgb(42, 122, 176)"  # the stylesheet loaded under the CSP
        await check_page(page, "portal-landing")
        await page.emulate_media(media="print")
        assert not await button.is_visible() and await visible(page, ".sent")
        await page.emulate_media(media="screen")

        await show(page)
        field = page.get_by_label("Your date of birth")
        assert await field.get_attribute("type") == "date"
        body = await page.inner_text("body")
        assert "for example 03/14/1980" in body and "You have 5 tries." in body
        assert CONTENT not in body
        await check_page(page, "portal-verify")

        await field.fill("1999-12-31")
        await show(page)
        await page.wait_for_selector("text=That answer did not match. 4 tries left.")
        assert await page.get_attribute("#answer", "aria-invalid") == "true"
        assert "answer-error" in (await page.get_attribute("#answer", "aria-describedby") or "")
        await check_page(page, "portal-wrong-answer")

        # A browser without a date field shows a text box, and the patient types the US way.
        await page.eval_on_selector("#answer", "field => { field.type = 'text'; }")
        await page.fill("#answer", "03/14/1980")
        await show(page)
        await page.wait_for_selector("#message")
        assert await page.inner_text("#message") == CONTENT
        body = await page.inner_text("body")
        assert "Questions about this message? Call +1 555 0100." in body
        assert body.index(CONTENT) < body.index("Questions about this message?")
        await check_page(page, "portal-message")
        await page.emulate_media(media="print")
        assert await visible(page, "#message") and await visible(page, ".sent")
        assert await visible(page, "header.site") and not await visible(page, ".print-help")
        await screenshot(page, "portal-message-print")
        await page.emulate_media(media="screen")

        # Again, with the date field itself: the link works until the message expires.
        await page.goto(f"{base}/p/{token}")
        await show(page)
        await page.get_by_label("Your date of birth").fill("1980-03-14")
        await show(page)
        await page.wait_for_selector("#message")
        assert await page.inner_text("#message") == CONTENT
        assert problems == []


async def test_locked_expired_and_unknown_links_explain_themselves(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    token = await delivered_token(client, keys["sender"], settings, mailbox, **HINTED)
    for _ in range(settings.verification_max_failures):
        await client.post(f"/p/{token}", data={"answer": "01/01/2000"})
    async with live_server(app) as base, browser_page() as page:
        problems = watch_console(page)
        await page.goto(f"{base}/p/{token}")
        body = await page.inner_text("body")
        assert "This message is locked" in body and "too many wrong answers" in body
        assert "call +1 555 0100" in body
        await check_page(page, "portal-locked")

        await app.state.resources.db.execute(
            "UPDATE messages SET verification_failures = 0, expires_at = '2026-03-01T12:00Z'")
        await page.goto(f"{base}/p/{token}")
        body = await page.inner_text("body")
        assert "This message expired on 1 March 2026" in body and "call +1 555 0100" in body
        await check_page(page, "portal-expired")

        await page.goto(f"{base}/p/{'A' * 43}")
        body = await page.inner_text("body")
        assert "This message is not available" in body and "call +1 555 0100" in body
        await check_page(page, "portal-unknown")
        assert problems == []
