"""SpamAssassin's verdict on the emails the worker really sends: a reminder, an opt-in
confirmation, a marketing send and campaign emails, delivered through the relay, each scored by
Debian's SpamAssassin with its local rules only (``-L``: no DNS blocklists, no network).

Each must score under 1.0 (5.0 is SpamAssassin's spam threshold) and hit no phishing-type rule.
SpamAssassin is required: without it these tests fail, they do not skip
(``scripts/ensure-test-tools.sh`` installs it).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from dataclasses import dataclass, replace

import httpx
import pytest
from starlette.applications import Starlette

from service.core.config import Settings
from service.devtools.relay import Mailbox
from tests.campaign_setup import sent_campaign
from tests.conftest import run_worker
from tests.helpers import mail_text, parse_mail, send
from tests.test_compose import assert_links_show_what_they_open
from tests.test_consent_flow import NEWSLETTER, authorise_and_confirm

MAX_SCORE = 1.0
# Parts of the names of the rules that read an email as phishing; none may fire:
#   PHISH     the phishing families (URI_PHISH, *_PHISH, ACCT_PHISHING_MANY, ...)
#   MISMATCH  a link whose words show another address (HTTPS_HTTP_MISMATCH, HTTPS_IP_MISMATCH),
#             and headers that contradict each other (CTE_8BIT_MISMATCH, ...)
#   SPOOF     a spoofed-looking URL (T_PDS_SHORT_SPOOFED_URL)
#   REDIR     open-redirect links (URI_PHP_REDIR, GOOG_REDIR_*): a tracked link is a redirect
#   SHORTENER, SHORTNER  URL shorteners (URL_SHORTENER_*, SHORT_SHORTNER)
#   OBFU      obfuscated words or URLs (HTML_OBFUSCATE_*, TVD_SILLY_URI_OBFU, ...)
PHISHING_TYPE = ("PHISH", "MISMATCH", "SPOOF", "REDIR", "SHORTENER", "SHORTNER", "OBFU")
# Real top-level domains for the links: SpamAssassin compares only valid registrable domains,
# so with the fixtures' .test and .example names a link showing another address would pass.
PORTAL = "https://portal.example.org"
DESTINATION = "https://www.example.com/flu-shots"
_REPORT_LINE = re.compile(r"^\s*(-?\d+\.\d+)\s+([A-Z][A-Z0-9_]+)\s", re.MULTILINE)
_SCORE = re.compile(r"^X-Spam-Status: \w+, score=(-?\d+\.\d+)", re.MULTILINE)


@dataclass(frozen=True)
class Verdict:
    score: float
    rules: dict[str, float]

    def phishing_rules(self) -> list[str]:
        return [rule for rule in self.rules if any(part in rule for part in PHISHING_TYPE)]


async def verdict(data: bytes) -> Verdict:
    spamassassin = shutil.which("spamassassin")
    if spamassassin is None:
        pytest.fail("SpamAssassin is missing: run scripts/ensure-test-tools.sh (as root it "
                    "installs Debian's spamassassin)")
    done = await asyncio.to_thread(
        subprocess.run, [spamassassin, "-L", "-t"], input=data, capture_output=True,
        timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    out = done.stdout.decode(errors="replace")
    score = _SCORE.search(out)
    assert score is not None, "no X-Spam-Status in SpamAssassin's output"
    rules = {name: float(points) for points, name in _REPORT_LINE.findall(out)}
    assert abs(sum(rules.values()) - float(score.group(1))) < 0.15  # the report is all of it
    return Verdict(float(score.group(1)), rules)


async def verdicts(mailbox: Mailbox) -> list[Verdict]:
    return list(await asyncio.gather(*(verdict(data) for _, _, data in mailbox.messages)))


def assert_trusted(found: Verdict) -> None:
    assert not found.phishing_rules(), found.rules
    assert found.score < MAX_SCORE, found.rules


async def test_single_sends_score_clean(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> None:
    """A reminder (treatment), the opt-in confirmation, then a marketing send."""
    assert (await send(client, keys["sender"])).status_code == 202
    await run_worker(settings)
    await authorise_and_confirm(client, keys, settings, mailbox)
    assert (await send(client, keys["sender"], NEWSLETTER)).status_code == 202
    await run_worker(settings)
    assert len(mailbox.messages) == 3
    for (_, _, data), found in zip(mailbox.messages, await verdicts(mailbox), strict=True):
        assert_trusted(found)
        assert_links_show_what_they_open(data)


async def test_a_campaign_email_scores_clean(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    worker = replace(settings, public_base_url=PORTAL)
    await sent_campaign(app, client, keys, worker, mailbox, 1, tracking=False,
                        links=[DESTINATION])
    (found,) = await verdicts(mailbox)
    assert_trusted(found)
    links = assert_links_show_what_they_open(mailbox.messages[0][2])
    assert (DESTINATION, "Visit the link") in links


async def test_a_tracked_campaign_email_does_not_look_like_phishing(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    """Its link goes through the click redirect, so it shows that redirect's URL, not the
    destination. Its open pixel is an image in a short email, which SpamAssassin scores
    (HTML_IMAGE_ONLY_*, 0.6 to 2.8): the price of counting opens, and why tracking is off unless
    a campaign asks for it. Everything else must score as the untracked email does."""
    worker = replace(settings, public_base_url=PORTAL)
    await sent_campaign(app, client, keys, worker, mailbox, 1, tracking=True,
                        links=[DESTINATION])
    (found,) = await verdicts(mailbox)
    pixel = {rule: points for rule, points in found.rules.items()
             if rule.startswith("HTML_IMAGE_ONLY_")}
    assert len(pixel) <= 1
    assert_trusted(Verdict(round(found.score - sum(pixel.values()), 1), found.rules))
    links = assert_links_show_what_they_open(mailbox.messages[0][2])
    assert DESTINATION not in {href for href, _ in links}
    assert DESTINATION not in mail_text(parse_mail(mailbox.messages[0][2]))
