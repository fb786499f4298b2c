"""The marketer's editor in headless Chromium, as a marketer uses it: sign in, a refused subject
and its reason, the fixed draft, the audience uploaded with the progress bar (upload.js), the
summary, the preview, the confirmation and the send. Each page is checked with axe-core at 360
and 1440 px, and no script error or CSP violation may appear."""

from __future__ import annotations

import uuid

from playwright.async_api import Page
from starlette.applications import Starlette

from tests.admin_session import enrolled, fill_sign_in, fresh_code
from tests.browser import browser_page, check_page, live_server
from tests.campaign_setup import authorize_all, marketer_key_id
from tests.test_campaign_editor import CSV
from tests.test_pages_browser import watch_console


async def _sign_in(app: Starlette, page: Page, base: str, key: str) -> None:
    secret = await enrolled(app, key)
    await page.goto(f"{base}/admin/login")
    await fill_sign_in(page, key, await fresh_code(app, secret))
    await page.wait_for_url(f"{base}/admin")


async def test_a_marketer_writes_uploads_previews_and_sends_a_campaign(
    app: Starlette, keys: dict[str, str],
) -> None:
    await authorize_all(app, ["ana@example.org", "ben@example.org"], await marketer_key_id(app))
    db = app.state.resources.db
    async with live_server(app) as base, browser_page() as page:
        problems = watch_console(page)
        await _sign_in(app, page, base, keys["marketer"])
        await page.goto(f"{base}/admin/campaigns/new")
        await check_page(page, "editor-new")

        await page.fill("#name", "Spring newsletter")
        await page.fill("#subject", "Your diabetes test results")
        await page.fill("#teaser", "News and hours from Riverside Clinic")
        await page.fill("#content", "Our new parking garage opens in April.")
        await page.fill("#links", "https://riverside.example/news")
        await page.check("#tracking")
        await page.get_by_role("button", name="Check subject").click()
        verdict = page.locator("#subject-check")
        await verdict.get_by_text("Refused:").wait_for()
        assert "condition" in await verdict.inner_text()
        assert await verdict.locator("mark").inner_text() == "diabetes"
        assert await page.input_value("#content") == "Our new parking garage opens in April."
        await check_page(page, "editor-subject-refused")

        await page.get_by_role("button", name="Create draft").click()
        await page.locator(".error").wait_for()
        assert await db.fetchval("SELECT count(*) FROM campaigns") == 0
        await page.fill("#subject", "Our Spring Newsletter")
        await page.get_by_role("button", name="Create draft").click()
        await page.get_by_role("heading", name="Draft: Spring newsletter").wait_for()
        campaign = uuid.UUID(page.url.rsplit("/", 1)[1])
        await check_page(page, "editor-draft")

        await page.set_input_files("#audience-file", files=[
            {"name": "patients.csv", "mimeType": "text/csv", "buffer": CSV}])
        await page.get_by_role("button", name="Upload").click()
        summary = page.locator("#audience-summary")
        await summary.wait_for()
        assert page.url.endswith(str(campaign))  # the script sent it: no navigation
        text = " ".join((await summary.inner_text()).split())
        assert "Rows read 5" in text and "Accepted 2" in text
        assert "already in the audience 1" in text and "Lines 3, 7" in text
        assert await page.evaluate("document.activeElement.id") == "audience-summary"
        await check_page(page, "editor-summary")

        await page.get_by_role("link", name="See the email exactly as it will be sent").click()
        await page.get_by_role("heading", name="As a mail client shows it").wait_for()
        shown = await page.locator(".mail").inner_text()
        assert "News and hours from Riverside Clinic" in shown and "Unsubscribe" in shown
        await check_page(page, "editor-preview")

        await page.go_back()
        await page.get_by_role("button", name="Send…").click()
        confirm = page.get_by_role("button", name="Yes, send to 2 recipients")
        await confirm.wait_for()
        await check_page(page, "editor-confirm")
        await confirm.click()
        await page.wait_for_url(f"{base}/admin/campaigns/{campaign}")
        status = await db.fetchval("SELECT status FROM campaigns WHERE id = $1", campaign)
        assert status in ("staging", "sending", "done")
        assert problems == []
