"""Aggregate-only engagement end to end: a tracked campaign through the real relay, opens and
clicks through the real endpoints, counters moved into PostgreSQL, and then every table and
every Redis key searched for anything that could say who opened or clicked.

Figures are shown per fixed period once it has ended (``small_cells``): ``settle`` moves a
campaign's start and its counted days back, as if its first period had ended."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import uuid
from dataclasses import replace
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette

from service.access import create_api_key
from service.core.config import Settings
from service.core.logs import JsonFormatter
from service.devtools.relay import Mailbox
from service.engagement import counters, tokens
from tests.campaign_setup import LINK, flush, open_pixels, sent_campaign
from tests.conftest import background_worker, empty_redis, run_worker
from tests.engagement_setup import read_at_once, settle
from tests.helpers import REMINDER, auth, mail_text, parse_mail, send


def near(estimate: Any, exact: int) -> bool:
    """HyperLogLog counts: with 4,096 registers two of a dozen messages share a register about
    once in sixty campaigns, so a unique count may read one low; more is out of bounds."""
    return isinstance(estimate, int) and exact - 1 <= estimate <= exact


async def metrics(client: httpx.AsyncClient, key: str, campaign: str) -> Any:
    response = await client.get(f"/v1/campaigns/{campaign}/metrics", headers=auth(key))
    assert response.status_code == 200, response.text
    return response.json()


async def first_period(app: Starlette, client: httpx.AsyncClient, key: str,
                       campaign: str) -> Any:
    await settle(app, campaign)
    shown = await metrics(client, key, campaign)
    return shown["periods"][0]


@pytest.fixture(autouse=True)
def people_read_later(app: Starlette) -> None:
    """The machine-by-timing rule is off here, and on in its own test."""
    read_at_once(app)


async def dump_tables(database_url: str) -> dict[str, list[str]]:
    conn = await asyncpg.connect(database_url)
    try:
        names = [r["tablename"] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
        return {name: sorted(str(tuple(r)) for r in await conn.fetch(f'SELECT * FROM "{name}"'))
                for name in names}
    finally:
        await conn.close()


async def dump_redis(url: str) -> list[bytes]:
    client = aioredis.from_url(url)
    try:
        out = []
        async for key in client.scan_iter():
            out.append(key)
            dumped = await client.dump(key)
            out.append(dumped or b"")
        return out
    finally:
        await client.aclose()


def forms_of(token: str) -> list[bytes]:
    """The token as text, and its nonce and tag in every form they could be stored in."""
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    nonce, sealed_time, tag = raw[18:34], raw[34:38], raw[38:]
    return [token.encode(), nonce, sealed_time + tag, tag, nonce.hex().encode(),
            tag.hex().encode(), base64.b64encode(nonce),
            base64.urlsafe_b64encode(nonce).rstrip(b"=")]


async def test_acceptance_40_recipients_15_opens_12_clicks_and_nothing_says_who(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox, database_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    campaign, emails = await sent_campaign(app, client, keys, settings, mailbox, 40)
    assert all(pixel and click for pixel, click in emails)
    assert len({pixel for pixel, _ in emails}) == 40  # each email its own tokens
    tables_before = await dump_tables(database_url)

    caplog.set_level(logging.INFO)
    opened = emails[:15]
    for pixel, _ in opened + opened[:5]:  # 15 distinct messages, 5 of them opened twice
        response = await client.get(f"/t/o/{pixel}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/gif"
    clicked = emails[10:22]
    for _, click in clicked + clicked[:2]:  # 12 distinct messages, 2 of them clicked twice
        response = await client.get(f"/t/c/{click}")
        assert response.status_code == 302
        assert response.headers["location"] == LINK
        assert response.headers["referrer-policy"] == "no-referrer"

    redis_before_flush = await dump_redis(settings.redis_url)
    await flush(app)
    shown = await metrics(client, keys["marketer"], campaign)
    assert shown["delivered"] == 40
    assert shown["periods"] == []  # the first period has not ended

    # Nothing per event or per recipient: the only table the hits changed is the aggregate,
    # and no token, nonce or tag is anywhere in PostgreSQL or Redis, in any encoding.
    tables_after = await dump_tables(database_url)
    changed = {name for name in tables_after if tables_after[name] != tables_before.get(name)}
    assert changed == {"engagement"}
    assert len(tables_after["engagement"]) == 2  # opens and the link, for today: no more
    everything = "\n".join(line for rows in tables_after.values() for line in rows).encode()
    everything += b"\n".join(redis_before_flush) + b"\n".join(await dump_redis(settings.redis_url))
    for pixel, click in emails:
        for form in forms_of(pixel) + forms_of(click):
            assert form not in everything
    service_records = [r for r in caplog.records if r.name.startswith("service")]
    for record in service_records:  # (the test's own HTTP client logs its URLs)
        message = JsonFormatter().format(record)
        assert all(pixel not in message and click not in message for pixel, click in emails)
    assert any("/t/o/<redacted>" in JsonFormatter().format(r) for r in service_records)

    period = await first_period(app, client, keys["marketer"], campaign)
    opens, clicks = period["opens"], period["clicks"]
    assert near(opens["unique"], 15)
    assert opens["total"] == 20
    assert opens["unique_rate"] == {"rate": opens["unique"] / 40, "of": 40}
    assert period["machine_opens"] == {"unique": 0, "total": 0}
    assert near(clicks["unique"], 12)
    [link] = clicks["links"]
    assert link["url"] == LINK
    assert near(link["unique"], 12)
    assert link["unique_rate"] == {"rate": link["unique"] / 40, "of": 40}


async def test_seven_opens_are_shown_as_fewer_than_eleven_and_the_rate_withheld(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    campaign, emails = await sent_campaign(app, client, keys, settings, mailbox, 20)
    await open_pixels(client, emails[:7])
    await flush(app)
    period = await first_period(app, client, keys["admin"], campaign)
    assert period["opens"]["unique"] == "<11"
    assert period["opens"]["total"] == "<11"
    assert period["opens"]["unique_rate"] == {"rate": None, "of": 20}
    assert period["clicks"]["unique"] == 0
    shown = await metrics(client, keys["admin"], campaign)
    assert (shown["delivered"], shown["min_cell"], shown["period_days"]) == (20, 11, 7)


async def test_forged_and_edited_tokens_count_nowhere_and_redirect_nowhere(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    campaign, emails = await sent_campaign(app, client, keys, settings, mailbox, 12)
    pixel, click = emails[0]
    edited_pixel = pixel[:30] + ("A" if pixel[30] != "A" else "B") + pixel[31:]
    edited_click = click[:-1] + ("A" if click[-1] != "A" else "B")
    assert (await client.get(f"/t/o/{edited_pixel}")).status_code == 200  # still a pixel
    assert (await client.get("/t/o/not-a-token")).status_code == 200
    for bad in (edited_click, pixel, "x" * 67, "../../evil"):
        response = await client.get(f"/t/c/{bad}")
        assert response.status_code == 404
        assert "location" not in response.headers
    # A genuine token for a campaign of the same service but signed with another key.
    foreign = tokens.mint(settings.keyring.generate(), uuid.UUID(campaign), 0, tokens.new_nonce())
    assert (await client.get(f"/t/c/{foreign}")).status_code == 404
    await flush(app)
    period = await first_period(app, client, keys["marketer"], campaign)
    assert period["opens"]["total"] == 0
    assert period["clicks"]["links"][0]["unique"] == 0


async def test_tracking_is_off_for_reminders_and_for_campaigns_that_do_not_ask(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    _, emails = await sent_campaign(app, client, keys, settings, mailbox, 3, tracking=False)
    assert emails == [("", "")] * 3
    assert all(LINK in mail_text(parse_mail(data)) for _, _, data in mailbox.messages)
    mailbox.messages.clear()
    assert (await send(client, keys["sender"], REMINDER)).status_code == 202
    await run_worker(settings)
    assert "/t/" not in mail_text(parse_mail(mailbox.messages[0][2]))


async def test_counters_survive_a_redis_flush_once_moved(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox, redis_client: aioredis.Redis,
) -> None:
    campaign, emails = await sent_campaign(app, client, keys, settings, mailbox, 12)
    await open_pixels(client, emails)
    await flush(app)
    await empty_redis(redis_client)  # Redis keeps nothing on disk: a restart is a flush
    await client.get(f"/t/o/{emails[0][0]}")  # a repeat open after the restart
    await flush(app)
    period = await first_period(app, client, keys["marketer"], campaign)
    assert near(period["opens"]["unique"], 12)
    assert period["opens"]["total"] == 13


async def test_counts_are_put_back_when_postgresql_refuses_them(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    campaign, emails = await sent_campaign(app, client, keys, settings, mailbox, 12)
    await open_pixels(client, emails)
    db = app.state.resources.db
    # A real refusal: the aggregate table is locked away from the service for a moment.
    await db.execute("ALTER TABLE engagement RENAME TO engagement_away")
    try:
        assert await counters.flush(app.state.resources.redis, db) == 0
    finally:
        await db.execute("ALTER TABLE engagement_away RENAME TO engagement")
    await flush(app)
    period = await first_period(app, client, keys["marketer"], campaign)
    assert near(period["opens"]["unique"], 12)
    assert period["opens"]["total"] == 12


async def test_marketers_see_only_their_own_campaigns_and_senders_none(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    campaign, _ = await sent_campaign(app, client, keys, settings, mailbox, 2)
    other = await create_api_key(app.state.resources.db, "marketer", "other marketer")
    assert (await client.get(f"/v1/campaigns/{campaign}/metrics",
                             headers=auth(other))).status_code == 404
    assert (await client.get(f"/v1/campaigns/{campaign}/metrics",
                             headers=auth(keys["sender"]))).status_code == 403
    assert (await client.get(f"/v1/campaigns/{campaign}/metrics")).status_code == 401
    mine = (await client.get("/v1/metrics", headers=auth(keys["marketer"]))).json()
    theirs = (await client.get("/v1/metrics", headers=auth(other))).json()
    everyone = (await client.get("/v1/metrics", headers=auth(keys["admin"]))).json()
    assert [c["campaign_id"] for c in mine["campaigns"]] == [campaign]
    assert theirs["campaigns"] == []
    assert [c["campaign_id"] for c in everyone["campaigns"]] == [campaign]
    assert mine["campaigns"] == everyone["campaigns"]  # the same figures in every view
    bad = await client.get("/v1/metrics?from=2026-13-01", headers=auth(keys["admin"]))
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"


async def test_the_running_worker_moves_counts_into_postgresql_within_seconds(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    campaign, emails = await sent_campaign(app, client, keys, settings, mailbox, 12)
    await open_pixels(client, emails)
    async with background_worker(settings):  # not burst: its crons run
        for _ in range(100):  # the move runs every 5 seconds
            if await app.state.resources.db.fetchval("SELECT count(*) FROM engagement"):
                break
            await asyncio.sleep(0.1)
    period = await first_period(app, client, keys["marketer"], campaign)
    assert period["opens"]["total"] == 12


async def test_machine_opens_and_clicks_are_counted_apart_and_nothing_of_the_request_is_kept(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox, database_url: str,
) -> None:
    campaign, emails = await sent_campaign(app, client, keys, settings, mailbox, 40)
    browser = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) "
                             "AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"}
    apple = {"User-Agent": "Mozilla/5.0"}
    gmail = {"User-Agent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 "
                           "(via ggpht.com GoogleImageProxy)"}
    for pixel, _ in emails[:12]:  # Apple's proxy fetches on arrival
        assert (await client.get(f"/t/o/{pixel}", headers=apple)).status_code == 200
    for pixel, _ in emails[12:24]:
        assert (await client.get(f"/t/o/{pixel}", headers=gmail)).status_code == 200
    for pixel, _ in emails[:15]:  # people, later
        assert (await client.get(f"/t/o/{pixel}", headers=browser)).status_code == 200
    for _, click in emails[30:40]:  # a scanner follows every link with HEAD
        assert (await client.head(f"/t/c/{click}", headers=browser)).status_code == 302
    for _, click in emails[:11]:
        assert (await client.get(f"/t/c/{click}", headers=browser)).status_code == 302
    # Seconds after delivery, a browser's agent is still a prefetch or a scan.
    resources = app.state.resources
    app.state.resources = replace(resources, settings=settings)
    assert settings.tracking_machine_seconds == 30
    for _, click in emails[11:13]:
        assert (await client.get(f"/t/c/{click}", headers=browser)).status_code == 302
    app.state.resources = resources
    await flush(app)

    tables = await dump_tables(database_url)
    everything = "\n".join(line for rows in tables.values() for line in rows)
    everything += repr(await dump_redis(settings.redis_url))
    for agent in ("iPhone", "GoogleImageProxy", "Mozilla", "AppleWebKit"):
        assert agent not in everything
    period = await first_period(app, client, keys["marketer"], campaign)
    assert near(period["opens"]["unique"], 15)
    assert period["opens"]["total"] == 15
    assert near(period["machine_opens"]["unique"], 24)
    assert period["machine_opens"]["total"] == 24
    assert near(period["clicks"]["unique"], 11)
    assert near(period["machine_clicks"]["unique"], 12)
    assert period["machine_clicks"]["total"] == 12


async def test_counts_that_come_after_their_period_could_be_shown_are_dropped(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    campaign, emails = await sent_campaign(app, client, keys, settings, mailbox, 12)
    await open_pixels(client, emails)
    await flush(app)
    await settle(app, campaign)
    pixel = tokens.read(settings.keyring, emails[0][0])
    assert pixel is not None
    redis = app.state.resources.redis
    today = dt.datetime.now(dt.UTC).date()
    # A count the move could not take in time (PostgreSQL away), for a day now shown ...
    await counters.record(redis, pixel, today - dt.timedelta(5), machine=False)
    # ... and one for yesterday, which no shown period holds.
    await counters.record(redis, pixel, today - dt.timedelta(1), machine=False)
    await flush(app)
    days = await app.state.resources.db.fetch(
        "SELECT day, total FROM engagement WHERE campaign_id = $1 ORDER BY day",
        uuid.UUID(campaign))
    assert [(r["day"], r["total"]) for r in days] == [
        (today - dt.timedelta(9), 12), (today - dt.timedelta(1), 1)]
