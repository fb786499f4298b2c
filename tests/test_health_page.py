"""The delivery health page: admins only; empty before anything is sent; then, after real sends
through the relay, a real TLS failure (a relay whose certificate the service does not trust),
and a bounce and a complaint mailed to the real inbound listener, the figures it shows, with
no address or subject on it. In Chromium, axe-core at 360 and 1440 px, empty and with data."""

from __future__ import annotations

import re
from dataclasses import replace

import httpx
import pytest
from starlette.applications import Starlette

from service.admin.health_views import describe_class
from service.core.config import Settings
from service.devtools.certs import CertFiles
from service.devtools.relay import Mailbox, start_relay
from tests import test_inbound
from tests.admin_session import signed_in
from tests.browser import check_page
from tests.campaign_setup import sent_campaign
from tests.conftest import free_port, run_worker
from tests.helpers import REMINDER, send
from tests.report_samples import arf, dsn
from tests.test_campaign_pages import staff_browser
from tests.test_dashboard import readable_charts
from tests.test_inbound import DOMAIN, mail_report

# The bounce domain's settings and the inbound listener, as the inbound tests have them.
settings = test_inbound.settings
inbound = test_inbound.inbound


async def test_the_health_page_is_for_admins(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    assert (await client.get("/admin/health")).headers["location"] == "/admin/login"
    await signed_in(app, client, keys["marketer"])
    assert (await client.get("/admin/health")).status_code == 403
    assert "Delivery health" not in (await client.get("/admin")).text  # not in the navigation


async def test_an_admin_reads_the_queue_retries_tls_failures_and_rates(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox, inbound: int, pki: CertFiles, rogue_pki: CertFiles,
) -> None:
    async with staff_browser(app, keys["admin"]) as (page, problems):
        await page.get_by_role("link", name="Delivery health").click()
        await page.wait_for_selector("text=Nothing has been sent yet")
        await check_page(page, "health-empty")

        await sent_campaign(app, client, keys, settings, mailbox, 4)
        (bounced, (to, ), _), (complained, _, _) = mailbox.messages[:2]
        await mail_report(inbound, pki, bounced, dsn(bounced, to))
        await mail_report(inbound, pki, f"complaints@{DOMAIN}",
                          arf(f"complaints@{DOMAIN}", complained))
        rogue_port = free_port()
        rogue = start_relay(Mailbox(), "127.0.0.1", rogue_port, rogue_pki)
        try:
            assert (await send(client, keys["sender"])).status_code == 202
            await run_worker(replace(settings, smtp_port=rogue_port))
        finally:
            rogue.stop()

        await page.reload()
        main = re.sub(r"\s+", " ", await page.inner_text("main"))
        assert "Due for a delivery attempt now" in main
        assert "TLS failures, last 24 hours 1" in main
        reasons = await page.inner_text("section:nth-of-type(2) tbody")
        assert "certificate is not trusted" in reasons and "1\t1" in reasons
        rates = await page.inner_text("section:nth-of-type(3) tbody")
        assert "Last 24 hours\t4\t1\t25.00%\t1\t25.00%" in rates
        assert "Since the start\t4\t1\t25.00%\t1\t25.00%" in rates
        chart = await page.locator("svg.chart").text_content() or ""
        assert "Delivered: 4 in all" in chart and "Retried: 1 in all" in chart
        hours = page.locator("details tbody tr")
        assert await hours.count() == 24  # the table alternative, behind its summary
        assert await hours.last.locator("td").all_text_contents() == ["4", "1", "0", "1", "1"]
        whole = await page.content()
        for private in ("@example.org", "Spring Newsletter", REMINDER["subject"]):
            assert private not in whole  # counts only: no address, no subject
        await check_page(page, "health")
        await readable_charts(page)
        assert problems == []


@pytest.mark.parametrize(("error_class", "words", "tls"), [
    ("tls_certificate", "TLS: the relay's certificate is not trusted, or not for its host", True),
    ("tls_certificate+gave_up", "TLS: the relay's certificate is not trusted, or not for its "
     "host; then retried until the give-up time", True),
    ("network+gave_up", "Network: connection refused, reset or timed out; then retried until "
     "the give-up time", False),
    ("smtp_permanent", "Permanent refusal (5xx)", False),
    ("something_new", "something_new", False),
])
def test_a_failure_class_reads_as_its_cause_given_up_or_not(
    error_class: str, words: str, tls: bool,
) -> None:
    assert describe_class(error_class) == (words, tls)
