"""The preference centre in headless Chromium, as a patient goes through it: open the unsubscribe
link in a delivered newsletter, read the choices, send a broken form once, choose the wider
option by keyboard and read what was done. Each state is scanned with axe-core at 360 and
1440 px (``check_page``); the double opt-in pages are scanned in test_pages_browser."""

from __future__ import annotations

import httpx
from playwright.async_api import Route
from starlette.applications import Starlette

from service.core.config import Settings
from service.devtools.relay import Mailbox
from tests.browser import browser_page, check_page, live_server
from tests.helpers import send
from tests.test_consent_flow import state
from tests.test_pages_browser import watch_console
from tests.test_preferences import CARE_ONLY, OPERATIONS, marketing_link


async def test_a_patient_stops_every_email_not_about_their_care(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    contact, path = await marketing_link(client, keys, settings, mailbox)
    async with live_server(app) as base, browser_page() as page:
        problems = watch_console(page)
        await page.goto(base + path)
        assert await page.title() == "Unsubscribe: Riverside Clinic"
        narrow = page.get_by_role("radio", name="Only newsletters and offers")
        wide = page.get_by_role("radio", name="Every email that is not about my care")
        assert await narrow.is_checked() and not await wide.is_checked()
        body = await page.inner_text("main")
        assert "surveys, office news and billing notices" in body
        assert "Messages about your care continue" in body
        await check_page(page, "preferences")

        # A form the page did not make (an old browser, a hand-edited request) is asked again.
        async def garble(route: Route) -> None:
            await route.continue_(post_data="choice=everything")

        await page.route("**/preferences", garble)
        await page.get_by_role("button", name="Unsubscribe").click()
        await page.wait_for_selector("[role=alert]")
        assert "Please choose one of the options" in await page.inner_text("[role=alert]")
        await check_page(page, "preferences-error")
        await page.unroute("**/preferences", garble)
        assert (await state(client, keys["sender"], contact))["marketing"]["allowed"]

        # By keyboard: arrow to the wider choice (its focus ring showing), Enter submits.
        await narrow.focus()
        await page.keyboard.press("ArrowDown")
        assert await wide.is_checked()
        assert await wide.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
        await page.keyboard.press("Enter")
        await page.wait_for_selector("text=You are unsubscribed")
        assert ("You will get no more emails from Riverside Clinic except about your care."
                in await page.inner_text("main"))
        await check_page(page, "preferences-saved")
        assert await page.context.cookies() == []
        assert problems == []

    assert await state(client, keys["sender"], contact) == CARE_ONLY
    assert (await send(client, keys["sender"], OPERATIONS)).json()["reason"] == "opted_out"
