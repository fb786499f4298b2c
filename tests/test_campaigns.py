"""Campaigns end to end through the real STARTTLS relay: upload, consent-filtered fan-out,
paced sending, pause within a second, resume, totals, and nothing recipient-level back out."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import re
import uuid
from dataclasses import replace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from service.campaigns import audience, fanout
from service.campaigns.lanes import campaign_position
from service.core.addresses import email_index
from service.core.config import Settings
from service.core.crypto import decode_token
from service.db.queries import QUERIES
from service.devtools.relay import Mailbox
from tests.campaign_setup import (
    audience_csv,
    authorize_all,
    create,
    marketer_key_id,
    progress,
    upload,
)
from tests.conftest import background_worker, empty_redis, run_worker
from tests.helpers import auth, parse_mail, portal_token

AUTHORIZED = [f"fan{n}@example.org" for n in range(150)]
UNAUTHORIZED = [f"stranger{n}@example.org" for n in range(40)]


async def test_campaign_reaches_only_the_authorized_each_with_own_links(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    await authorize_all(app, AUTHORIZED, await marketer_key_id(app))
    campaign = await create(client, keys["marketer"])
    rows = AUTHORIZED + UNAUTHORIZED + ["not an address", "x@y", AUTHORIZED[0].upper()]
    report = await upload(client, keys["marketer"], campaign, audience_csv(rows))
    assert report == {"rows": 193, "accepted": 190, "duplicates": 1, "invalid": 2,
                      "invalid_lines": [192, 193]}
    assert (await client.post(f"/v1/campaigns/{campaign}/send",
                              headers=auth(keys["marketer"]))).status_code == 202
    await run_worker(settings)

    delivered = {rcpt: data for _, rcpts, data in mailbox.messages for rcpt in rcpts}
    assert set(delivered) == set(AUTHORIZED)
    tokens, unsubscribes = set(), set()
    for data in delivered.values():
        mail = parse_mail(data)
        assert mail["Subject"] == "Our Spring Newsletter"
        assert "parking garage" not in data.decode()
        tokens.add(portal_token(data))
        unsubscribes.add(mail["List-Unsubscribe"])
    assert len(tokens) == len(unsubscribes) == 150
    page = await client.post(f"/p/{next(iter(tokens))}")
    assert "Our new parking garage opens in April." in page.text

    state = await progress(client, keys["marketer"], campaign)
    numbers = state["progress"]
    assert state["status"] == "done"
    assert numbers["staged"] == 190
    assert numbers["excluded"] == {"no_authorization": 40}
    assert numbers["sent"] == 150
    assert numbers["queued"] == numbers["retrying"] == numbers["failed"] == 0
    assert numbers["sent"] + sum(numbers["excluded"].values()) == numbers["staged"]
    assert "fan0@example.org" not in str(state)

    # Its links carry their message's id and an HMAC under the campaign's link key: nothing of
    # them is stored, and they keep working once the campaign is done.
    db = app.state.resources.db
    assert await db.fetchval(
        "SELECT count(*) FROM messages WHERE token_hash IS NOT NULL"
        " OR unsubscribe_hash IS NOT NULL OR token_sealed IS NOT NULL") == 0
    unsubscribe_url = next(iter(unsubscribes)).strip("<>")
    response = await client.post(unsubscribe_url.removeprefix("https://portal.clinic.test"),
                                 content=b"List-Unsubscribe=One-Click")
    assert response.status_code == 200
    # A link whose HMAC does not check out names nothing: another message's id under this
    # tag, or an unsubscribe token used as a portal link.
    raw = decode_token(next(iter(tokens)))
    assert raw is not None
    other = await db.fetchval("SELECT id FROM messages WHERE id <> $1 LIMIT 1",
                              uuid.UUID(bytes=raw[:16]))
    forged = base64.urlsafe_b64encode(other.bytes + raw[16:]).rstrip(b"=").decode()
    assert (await client.post(f"/p/{forged}")).status_code == 404
    unsubscribe_token = unsubscribe_url.rsplit("/", 1)[1]
    assert (await client.post(f"/p/{unsubscribe_token}")).status_code == 404
    # The portal content goes once the campaign's last link has expired.
    await db.execute("UPDATE messages SET expires_at = now() - interval '1 second'")
    await app.state.resources.db.execute(QUERIES.purge_expired_campaign_content)
    assert await db.fetchval("SELECT content_sealed FROM campaigns") is None


async def test_pause_stops_within_a_second_and_resume_finishes(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    await authorize_all(app, AUTHORIZED, await marketer_key_id(app))
    campaign = await create(client, keys["marketer"], rate_per_second=40)
    await upload(client, keys["marketer"], campaign, audience_csv(AUTHORIZED))
    async with background_worker(settings, poll_delay=0.02):
        await client.post(f"/v1/campaigns/{campaign}/send", headers=auth(keys["marketer"]))
        started = asyncio.get_running_loop().time()
        while len(mailbox.messages) < 30:
            assert asyncio.get_running_loop().time() - started < 20, (
                await progress(client, keys["marketer"], campaign))
            await asyncio.sleep(0.05)
        paused = await client.post(f"/v1/campaigns/{campaign}/pause",
                                   headers=auth(keys["marketer"]))
        assert paused.status_code == 200
        await asyncio.sleep(1.0)
        after_a_second = len(mailbox.messages)
        await asyncio.sleep(2.0)
        assert len(mailbox.messages) == after_a_second < 150
        state = await progress(client, keys["marketer"], campaign)
        assert state["status"] == "paused"
        assert state["progress"]["queued"] == 150 - after_a_second
        # Parked messages are not "due in" anything (their time is infinity, not a number).
        assert await app.state.resources.db.fetchval(QUERIES.next_due_in) is None

        resumed = await client.post(f"/v1/campaigns/{campaign}/resume",
                                    headers=auth(keys["marketer"]))
        assert resumed.status_code == 200
        deadline = asyncio.get_running_loop().time() + 30
        while len(mailbox.messages) < 150 and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    recipients = [r for _, rcpts, _ in mailbox.messages for r in rcpts]
    assert sorted(recipients) == sorted(AUTHORIZED)  # everyone once, nobody twice
    for _ in range(50):
        if (await progress(client, keys["marketer"], campaign))["status"] == "done":
            break
        await asyncio.sleep(0.1)
    assert (await progress(client, keys["marketer"], campaign))["progress"]["sent"] == 150


async def test_cancel_rejects_what_is_left(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    await authorize_all(app, AUTHORIZED[:20], await marketer_key_id(app))
    campaign = await create(client, keys["marketer"], rate_per_second=0.5,
                            scheduled_at=(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
                            .isoformat())
    await upload(client, keys["marketer"], campaign, audience_csv(AUTHORIZED[:20]))
    await client.post(f"/v1/campaigns/{campaign}/send", headers=auth(keys["marketer"]))
    await run_worker(settings)  # fans out; nothing is due before the scheduled start
    assert mailbox.messages == []
    cancelled = await client.post(f"/v1/campaigns/{campaign}/cancel",
                                  headers=auth(keys["marketer"]))
    assert cancelled.status_code == 200
    numbers = (await progress(client, keys["marketer"], campaign))["progress"]
    assert numbers["rejected"] == 20 and numbers["queued"] == 0


async def test_campaigns_are_private_to_their_marketer(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    from service.access import create_api_key

    campaign = await create(client, keys["marketer"])
    other = await create_api_key(app.state.resources.db, "marketer", "other team")
    assert (await client.get(f"/v1/campaigns/{campaign}", headers=auth(other))).status_code == 404
    assert (await client.get(f"/v1/campaigns/{campaign}",
                             headers=auth(keys["admin"]))).status_code == 200
    assert (await client.post("/v1/campaigns", json={}, headers=auth(keys["sender"]))
            ).status_code == 403


@pytest.mark.parametrize(
    ("change", "status"),
    [({"subject": "Your HIV clinic news"}, 422), ({"teaser": "Diabetes tips inside"}, 422),
     ({"rate_per_second": 0}, 422), ({"links": ["http://plain.example"]}, 422),
     ({"content": None, "teaser": None}, 422)],
)
async def test_campaign_validation(
    client: httpx.AsyncClient, keys: dict[str, str], change: dict[str, Any], status: int,
) -> None:
    body = {"name": "n", "subject": "Our Spring Newsletter", "content": "c", **change}
    body = {k: v for k, v in body.items() if v is not None}
    response = await client.post("/v1/campaigns", json=body, headers=auth(keys["marketer"]))
    assert response.status_code == status
    assert not re.search(r"HIV|Diabetes", response.text)


async def test_audience_of_everyone_authorized(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    await authorize_all(app, AUTHORIZED[:30], await marketer_key_id(app))
    # Contacts without an authorization are not selected.
    for address in UNAUTHORIZED[:10]:
        await client.post("/v1/contacts", json={"email": address}, headers=auth(keys["sender"]))
    campaign = await create(client, keys["marketer"])
    response = await client.post(f"/v1/campaigns/{campaign}/audience",
                                 json={"select": "authorized"}, headers=auth(keys["marketer"]))
    assert response.status_code == 200
    assert (response.json()["rows"], response.json()["accepted"]) == (40, 30)
    await client.post(f"/v1/campaigns/{campaign}/send", headers=auth(keys["marketer"]))
    await run_worker(settings)
    assert sorted(r for _, rcpts, _ in mailbox.messages for r in rcpts) == sorted(AUTHORIZED[:30])
    bad = await client.post(f"/v1/campaigns/{campaign}/audience", json={"select": "everyone"},
                            headers=auth(keys["marketer"]))
    assert bad.status_code in (409, 422)


async def test_an_audience_by_tag_takes_the_tagged_and_authorized_and_stores_no_tag_name(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    marketer = keys["marketer"]
    tagged = [f"fair{n}@example.org" for n in range(5)]
    await authorize_all(app, [*tagged, "plain@example.org"], await marketer_key_id(app))
    db = app.state.resources.db
    for address in tagged:
        contact_id = await db.fetchval(
            "SELECT id FROM contacts WHERE email_index = $1",
            email_index(settings.keyring, address, b""))  # the "default" organization's
        response = await client.put(f"/v1/contacts/{contact_id}/tags", headers=auth(marketer),
                                    json={"tags": ["Spring-Fair", "newsletter"]})
        assert response.status_code == 200, response.text
    unauthorized = await client.post("/v1/contacts", headers=auth(marketer), json={
        "email": "no-auth@example.org", "tags": ["spring-fair"]})
    assert unauthorized.status_code == 201

    campaign = await create(client, marketer)
    for bad in ({"select": "tag"}, {"select": "tag", "tag": ""}, {"select": "tag", "tag": 3}):
        response = await client.post(f"/v1/campaigns/{campaign}/audience", json=bad,
                                     headers=auth(marketer))
        assert response.status_code == 422
    response = await client.post(f"/v1/campaigns/{campaign}/audience", headers=auth(marketer),
                                 json={"select": "tag", "tag": " spring-fair"})
    assert response.status_code == 200
    assert response.json()["rows"] == 6 and response.json()["accepted"] == 5
    assert (await client.post(f"/v1/campaigns/{campaign}/send",
                              headers=auth(marketer))).status_code == 202
    await run_worker(settings)
    assert sorted(r for _, rcpts, _ in mailbox.messages for r in rcpts) == sorted(tagged)
    contacts = str(await db.fetch("SELECT * FROM contacts")).lower()
    assert "spring" not in contacts and "newsletter" not in contacts


async def test_a_fan_out_whose_job_was_lost_is_restarted_by_the_sweep(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox, redis_client: Any,
) -> None:
    addresses = AUTHORIZED[:30]
    await authorize_all(app, addresses, await marketer_key_id(app))
    campaign = await create(client, keys["marketer"])
    await upload(client, keys["marketer"], campaign, audience_csv(addresses))
    assert (await client.post(f"/v1/campaigns/{campaign}/send",
                              headers=auth(keys["marketer"]))).status_code == 202
    await empty_redis(redis_client)  # the fan-out job is gone with Redis
    await run_worker(settings)
    assert mailbox.messages == []  # nothing knew about the campaign yet
    db = app.state.resources.db
    await db.execute("UPDATE campaign_fanout_lanes SET touched_at = now() - interval '2 minutes'")
    await run_worker(settings)  # its start-up sweep finds the stalled lanes
    assert sorted(r for _, rcpts, _ in mailbox.messages for r in rcpts) == sorted(addresses)
    assert (await progress(client, keys["marketer"], campaign))["status"] == "done"


async def test_an_upload_written_in_overlapping_batches_keeps_the_first_of_each_address(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Batches are written while the next is read; the first occurrence still wins across
    batches, and an upload that ends in an error leaves nothing staged."""
    monkeypatch.setattr(audience, "BATCH_ROWS", 4)
    campaign = await create(client, keys["marketer"])
    addresses = [f"batch{n % 7}@example.org" for n in range(20)]
    report = await upload(client, keys["marketer"], campaign, audience_csv(addresses))
    assert (report["accepted"], report["duplicates"]) == (7, 13)
    db = app.state.resources.db
    assert await db.fetchval("SELECT count(*) FROM campaign_audience") == 7

    monkeypatch.setattr(audience, "MAX_ROWS", 17)
    second = await create(client, keys["marketer"])
    body = audience_csv([f"many{n}@example.org" for n in range(18)])
    response = await client.post(f"/v1/campaigns/{second}/audience", content=body,
                                 headers={**auth(keys["marketer"]), "Content-Type": "text/csv"})
    assert response.status_code == 413
    assert response.json()["type"].endswith("/audience-too-large")
    assert await db.fetchval(
        "SELECT count(*) FROM campaign_audience WHERE campaign_id = $1", uuid.UUID(second)) == 0


@pytest.mark.parametrize(("lanes", "jobs_per_lane"), [(1, 1), (1, 2), (3, 1), (3, 2)])
async def test_fan_out_lanes_in_many_batches_create_each_message_once(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
    monkeypatch: pytest.MonkeyPatch, lanes: int, jobs_per_lane: int,
) -> None:
    """Lanes side by side, batch after batch from their checkpoints, alone or with a duplicated
    job of the same lane taking turns on the lane's row lock: every authorized recipient gets
    one message, each at its own pacing position, and the campaign turns to sending once."""
    monkeypatch.setattr(fanout, "BATCH", 7)
    resources = replace(app.state.resources,
                        settings=replace(app.state.resources.settings, fanout_lanes=lanes))
    monkeypatch.setattr(app.state, "resources", resources)
    authorized = AUTHORIZED[:45]
    await authorize_all(app, authorized, await marketer_key_id(app))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    campaign = await create(client, keys["marketer"], rate_per_second=10,
                            scheduled_at=later.isoformat())
    strangers = [f"stranger{n}@example.org" for n in range(12)]
    await upload(client, keys["marketer"], campaign, audience_csv(authorized + strangers))
    assert (await client.post(f"/v1/campaigns/{campaign}/send",
                              headers=auth(keys["marketer"]))).status_code == 202
    deadline = asyncio.get_running_loop().time() + 60
    results = await asyncio.gather(*(
        fanout.fan_out(resources.db, resources.settings, uuid.UUID(campaign), lane, deadline)
        for lane in range(lanes) for _ in range(jobs_per_lane)))
    assert sum(created for created, _ in results) == 45
    assert all(finished for _, finished in results)
    db = resources.db
    assert await db.fetchval("SELECT count(DISTINCT recipient_index) FROM messages") == 45
    assert await db.fetchval("SELECT count(*) FROM messages") == 45
    offsets = [row[0] for row in await db.fetch(
        "SELECT extract(epoch FROM m.next_attempt_at - c.scheduled_at) * 10"
        " FROM messages m JOIN campaigns c ON c.id = m.campaign_id")]
    sizes = {row["lane"]: row["position"] for row in await db.fetch(
        "SELECT lane, position FROM campaign_fanout_lanes")}
    assert sorted(round(float(offset)) for offset in offsets) == sorted(
        campaign_position(lane, lanes, n) for lane in range(lanes) for n in range(sizes[lane]))
    state = await progress(client, keys["marketer"], campaign)
    assert state["status"] == "sending"
    assert state["progress"]["excluded"] == {"no_authorization": 12}
    assert state["progress"]["queued"] == 45


async def test_a_campaign_paused_while_staging_fans_out_only_after_resume(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    addresses = AUTHORIZED[:30]
    await authorize_all(app, addresses, await marketer_key_id(app))
    campaign = await create(client, keys["marketer"])
    await upload(client, keys["marketer"], campaign, audience_csv(addresses))
    await client.post(f"/v1/campaigns/{campaign}/send", headers=auth(keys["marketer"]))
    paused = await client.post(f"/v1/campaigns/{campaign}/pause", headers=auth(keys["marketer"]))
    assert paused.status_code == 200
    await run_worker(settings)  # every lane's job finds the campaign paused
    db = app.state.resources.db
    assert await db.fetchval("SELECT count(*) FROM messages") == 0
    assert mailbox.messages == []
    resumed = await client.post(f"/v1/campaigns/{campaign}/resume",
                                headers=auth(keys["marketer"]))
    assert resumed.json()["status"] == "staging"
    await run_worker(settings)
    assert sorted(r for _, rcpts, _ in mailbox.messages for r in rcpts) == sorted(addresses)
    assert (await progress(client, keys["marketer"], campaign))["status"] == "done"


async def test_a_worker_lost_between_the_last_lane_and_sending_is_made_good_by_the_sweep(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    """Every lane done and every message delivered, but the campaign never left staging (its
    worker died in between): the sweep runs a done lane's job, which finishes the campaign
    without sending anything again."""
    addresses = AUTHORIZED[:10]
    await authorize_all(app, addresses, await marketer_key_id(app))
    campaign = await create(client, keys["marketer"])
    await upload(client, keys["marketer"], campaign, audience_csv(addresses))
    await client.post(f"/v1/campaigns/{campaign}/send", headers=auth(keys["marketer"]))
    await run_worker(settings)
    db = app.state.resources.db
    await db.execute("UPDATE campaigns SET status = 'staging'")
    await db.execute("UPDATE campaign_fanout_lanes SET touched_at = now() - interval '2 minutes'")
    assert await db.fetchval("SELECT bool_and(done) FROM campaign_fanout_lanes")
    await run_worker(settings)
    assert (await progress(client, keys["marketer"], campaign))["status"] == "done"
    assert len(mailbox.messages) == 10


async def test_a_sending_campaign_survives_a_worker_restart(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    """The worker is stopped part-way through a paced campaign and a new one started: the new
    worker finishes it, and nobody gets the mail twice."""
    await authorize_all(app, AUTHORIZED, await marketer_key_id(app))
    campaign = await create(client, keys["marketer"], rate_per_second=60)
    await upload(client, keys["marketer"], campaign, audience_csv(AUTHORIZED))
    await client.post(f"/v1/campaigns/{campaign}/send", headers=auth(keys["marketer"]))
    loop = asyncio.get_running_loop()
    async with background_worker(settings, poll_delay=0.02):
        started = loop.time()
        while len(mailbox.messages) < 40:
            assert loop.time() - started < 20
            await asyncio.sleep(0.02)
    stopped_at = len(mailbox.messages)
    assert stopped_at < len(AUTHORIZED)
    async with background_worker(settings, poll_delay=0.02):
        deadline = loop.time() + 30
        while (await progress(client, keys["marketer"], campaign))["status"] != "done":
            assert loop.time() < deadline
            await asyncio.sleep(0.1)
    recipients = [r for _, rcpts, _ in mailbox.messages for r in rcpts]
    assert sorted(recipients) == sorted(AUTHORIZED)
