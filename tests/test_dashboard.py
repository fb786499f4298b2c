"""The engagement dashboard in headless Chromium (axe-core at 360 and 1440 px, chart text drawn at
12px or more, bars aligned), its session cookie and forms over HTTP, and the Prometheus
endpoint."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page
from starlette.applications import Starlette

from service.access import create_api_key
from service.core.config import Settings
from service.devtools.relay import Mailbox
from tests.admin_session import enrolled, fill_sign_in, fresh_code, sign_in, signed_in
from tests.browser import WIDTHS, browser_page, check_page, live_server
from tests.campaign_setup import flush, open_pixels, sent_campaign
from tests.engagement_setup import read_at_once, settle
from tests.helpers import auth
from tests.test_pages_browser import watch_console


async def test_an_admin_signs_in_and_sees_the_chart_of_a_campaign_with_known_counts(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    campaign, emails = await sent_campaign(
        app, client, keys, settings, mailbox, 40, name="Autumn newsletter")
    read_at_once(app)
    await open_pixels(client, emails[:20])
    for _, click in emails[:12]:
        await client.get(f"/t/c/{click}")
    await flush(app)
    await settle(app, campaign)
    shown = (await client.get(f"/v1/campaigns/{campaign}/metrics",
                              headers=auth(keys["admin"]))).json()
    [period] = shown["periods"]
    open_rate = f"{period['opens']['unique_rate']['rate'] * 100:.1f}%"  # 50.0% or 47.5%
    click_rate = f"{period['clicks']['unique_rate']['rate'] * 100:.1f}%"

    secret = await enrolled(app, keys["admin"])
    async with live_server(app) as base, browser_page() as page:
        problems = watch_console(page)
        await page.goto(f"{base}/admin")
        assert page.url == f"{base}/admin/login"
        await fill_sign_in(page, keys["sender"])
        await page.wait_for_selector("text=Only an admin or marketer key")
        await fill_sign_in(page, keys["admin"], await fresh_code(app, secret))
        await page.wait_for_selector("svg.chart")
        assert page.url == f"{base}/admin"

        chart = await page.locator("svg.chart").first.text_content() or ""
        assert "Autumn newsletter" in chart
        assert f"Open rate: {open_rate}" in chart and f"Click rate: {click_rate}" in chart
        bars = page.locator("svg.chart rect.bar")
        assert await bars.count() >= 3  # two rates, and the one period's opens
        row = await page.inner_text("tbody tr")
        assert "Autumn newsletter" in row and open_rate in row and "20" in row
        delivery = await page.inner_text("section:last-of-type tbody tr")
        assert "Autumn newsletter" in delivery and "40" in delivery
        [cookie] = [c for c in await page.context.cookies() if c["name"] == "hm_admin"]
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"
        await check_page(page, "engagement")
        await readable_charts(page)

        await page.get_by_role("button", name="Sign out").click()
        await page.wait_for_selector("#api_key")
        await page.goto(f"{base}/admin")
        assert page.url == f"{base}/admin/login"
        assert problems == []


async def readable_charts(page: Page) -> None:
    """At each width, every chart's text is drawn at 12px or more, and every bar starts at the
    same place (the charts' left edge) and stays inside its chart."""
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": 900})
        smallest = await page.evaluate(
            "Math.min(...[...document.querySelectorAll('svg.chart text')].map(t =>"
            " parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a))")
        assert smallest >= 12, (width, smallest)
        misplaced = await page.evaluate(
            "[...document.querySelectorAll('svg.chart')].flatMap(svg => {"
            " const box = svg.getBoundingClientRect();"
            " return [...svg.querySelectorAll('rect.bar')].map(r => r.getBoundingClientRect())"
            "  .filter(r => r.left < box.left - 0.5 || r.right > box.right + 0.5); }).length")
        assert misplaced == 0, width
        lefts = await page.evaluate(
            "[...new Set([...document.querySelectorAll('svg.chart rect.bar')]"
            ".filter(r => !r.closest('svg').querySelector('.axis'))"
            ".map(r => Math.round(r.getBoundingClientRect().left)))]")
        assert len(lefts) <= 1, (width, lefts)  # the horizontal bars all start at one edge
    await page.set_viewport_size({"width": WIDTHS[-1], "height": 900})


async def test_sign_out_needs_the_sessions_csrf_token_and_cross_origin_posts_are_refused(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    token = await signed_in(app, client, keys["admin"])
    page = await client.get("/admin")
    assert page.status_code == 200
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert csrf is not None
    forged = await client.post("/admin/logout", data={"csrf": "0" * 64})
    assert forged.status_code == 403
    assert (await client.get("/admin")).status_code == 200  # still signed in
    foreign = await client.post("/admin/logout", data={"csrf": csrf.group(1)},
                                headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    login_elsewhere = await client.post("/admin/login", data={"api_key": keys["admin"]},
                                        headers={"Origin": "https://evil.example"})
    assert login_elsewhere.status_code == 403
    out = await client.post("/admin/logout", data={"csrf": csrf.group(1)})
    assert out.status_code == 303
    client.cookies.set("hm_admin", token, path="/admin")  # the old cookie, replayed
    assert (await client.get("/admin")).headers["location"] == "/admin/login"


async def test_a_revoked_key_ends_its_dashboard_sessions_and_bad_keys_get_nothing(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    await signed_in(app, client, keys["admin"])
    await app.state.resources.db.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE role = 'admin'")
    assert (await client.get("/admin")).status_code == 303
    client.cookies.clear()
    wrong = await sign_in(client, "hm_0123456789abcdef_nope", "123456")
    assert wrong.status_code == 401
    assert "set-cookie" not in wrong.headers
    assert (await client.get("/admin?from=junk")).status_code == 303


async def test_prometheus_metrics_for_admins_with_no_phi_in_any_label(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    await sent_campaign(app, client, keys, settings, mailbox, 12)
    assert (await client.get("/metrics")).status_code == 401
    assert (await client.get("/metrics", headers=auth(keys["marketer"]))).status_code == 403
    other = await create_api_key(app.state.resources.db, "admin", "prometheus")
    response = await client.get("/metrics", headers=auth(other))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert 'hipaa_mail_messages_total{status="sent"} 12' in text
    assert "hipaa_mail_messages_due 0" in text
    assert "hipaa_mail_queue_jobs " in text
    assert re.search(r'hipaa_mail_delivery_latency_seconds\{quantile="0.5"\} \d', text)
    assert re.search(r'hipaa_mail_http_requests_total\{handler="send_campaign",'
                     r'method="POST",code="202"\} 1', text)
    labels = set(re.findall(r'="([^"]*)"', text))
    assert labels
    for value in labels:
        assert re.fullmatch(r"[a-z_]+|[A-Z]+|\d+|[0-9.]+|\+Inf", value), value
    assert "@" not in text and "Newsletter" not in text and "/t/" not in text
