"""RETENTION_DAYS: message rows older than the period, final and past their link's expiry, go
with their events; everything else stays. A finished campaign is retired whole: its messages
and sealed audience go, and its pages and report show the same figures as before. Every batch
leaves an audit record, and the audit chain still verifies.

The rows are made by the real API and worker, then moved back in time by ``_age``, which gives a
message the id it would have had then (version 7, or a version-4 one as before migration 0029).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
import types
import uuid
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from service.audit import verify_chain
from service.core.config import Settings
from service.core.randomness import time_ordered_uuid
from service.db.queries import QUERIES
from service.devtools.relay import Mailbox
from service.retention import deletion, retire
from service.worker import jobs
from tests.campaign_setup import progress, sent_campaign
from tests.conftest import run_worker
from tests.helpers import REMINDER, auth, plan_nodes, plan_without_seqscans, send

DAYS = 90


async def _age(app: Starlette, message_id: str | uuid.UUID, days: float, *,
               random_id: bool = False, expired: bool = True) -> uuid.UUID:
    """Setup only: the message as if accepted ``days`` ago, under the id it would have had then.
    Triggers are off while the key moves (its events move with it; nothing is counted twice)."""
    at = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    new = uuid.uuid4() if random_id else time_ordered_uuid(at)
    async with app.state.resources.db.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(
            "UPDATE messages SET id = $2, created_at = $3,"
            " sent_at = CASE WHEN sent_at IS NOT NULL"
            " THEN $3::timestamptz + interval '1 minute' END,"
            " expires_at = CASE WHEN $4 THEN now() - interval '1 day' ELSE expires_at END"
            " WHERE id = $1", uuid.UUID(str(message_id)), new, at, expired)
        await conn.execute("UPDATE message_events SET message_id = $2 WHERE message_id = $1",
                           uuid.UUID(str(message_id)), new)
        await conn.execute("UPDATE inbound_reports SET message_id = $2 WHERE message_id = $1",
                           uuid.UUID(str(message_id)), new)
    return new


async def _reminders(client: httpx.AsyncClient, key: str, n: int) -> list[str]:
    ids = []
    for i in range(n):
        response = await send(client, key, {**REMINDER, "to": f"kept{i}@example.org"})
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    return ids


async def _run(app: Starlette, days: int = DAYS, seconds: float = 30.0) -> Any:
    return await retire(app.state.resources.db, days, time.monotonic() + seconds)


# (case, days ago, status, random id, link expired): whether retention deletes the row.
CASES = [
    ("sent, older than the period", DAYS + 1, "sent", False, True, True),
    ("failed, older", DAYS + 1, "failed", False, True, True),
    ("bounced, older", DAYS + 1, "bounced", False, True, True),
    ("cancelled, older", DAYS + 1, "cancelled", False, True, True),
    ("rejected, older", DAYS + 1, "rejected", False, True, True),
    ("sent, within the period", DAYS - 1, "sent", False, True, False),
    ("retrying, older", DAYS + 1, "retrying", False, True, False),
    ("scheduled, older", DAYS + 1, "scheduled", False, True, False),
    ("sent, older, link still open", DAYS + 1, "sent", False, False, False),
    ("random id, sent, older", DAYS + 1, "sent", True, True, True),
    ("random id, sent, within the period", DAYS - 1, "sent", True, True, False),
    ("random id, queued, older", DAYS + 1, "queued", True, True, False),
    # Accepted before the period but sent within it (retries, a schedule): its unsubscribe link
    # works for the period after the email went.
    ("sent within the period, accepted before", DAYS + 1, "sent", False, True, False),
    # Its delivery's audit record is not written yet.
    ("sent, older, delivery not audited yet", DAYS + 1, "sent", False, True, False),
]


async def test_retention_deletes_exactly_the_old_final_expired_messages(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    db = app.state.resources.db
    ids = await _reminders(client, keys["sender"], len(CASES))
    await run_worker(settings)
    aged = {}
    for message_id, (case, days, status, random_id, expired, _) in zip(ids, CASES, strict=True):
        await db.execute("UPDATE messages SET status = $2 WHERE id = $1",
                         uuid.UUID(message_id), status)
        aged[case] = await _age(app, message_id, days, random_id=random_id, expired=expired)
    await db.execute("UPDATE messages SET sent_at = now() - make_interval(days => $2)"
                     " WHERE id = $1", aged["sent within the period, accepted before"], DAYS - 1)
    await db.execute("INSERT INTO delivery_audit_queue (message_id) VALUES ($1)",
                     aged["sent, older, delivery not audited yet"])
    one_gone = aged["sent, older than the period"]
    await db.execute("INSERT INTO inbound_reports (outcome, message_id) VALUES ('delayed', $1)",
                     one_gone)
    totals_before = await db.fetch(QUERIES.messages_by_status)

    done = await _run(app)

    remaining = {r["id"] for r in await db.fetch("SELECT id FROM messages")}
    with_events = {r["message_id"] for r in await db.fetch("SELECT message_id FROM message_events")}
    for case, *_, deleted in CASES:
        assert (aged[case] not in remaining) is deleted, case
        assert (aged[case] not in with_events) is deleted, case
    assert done.messages == sum(deleted for *_, deleted in CASES) and done.finished
    # A bounce report outlives its message, unlinked; the totals of /metrics do not move, and
    # count the deleted ones besides.
    assert await db.fetchval("SELECT count(*) FROM inbound_reports WHERE message_id IS NULL") == 1
    totals = {r["status"]: r["n"] for r in await db.fetch(QUERIES.messages_by_status)}
    assert totals == {**{r["status"]: r["n"] for r in totals_before}, "retired": done.messages}
    scraped = (await client.get("/metrics", headers=auth(keys["admin"]))).text
    assert f"hipaa_mail_messages_retired_total {done.messages}\n" in scraped
    response = await client.get(f"/v1/messages/{one_gone}", headers=auth(keys["sender"]))
    assert response.status_code == 404
    # Audit records stay, one more per batch that deleted anything, and the chain holds.
    records = await db.fetch("SELECT detail FROM audit_log WHERE action = 'message.retire'")
    assert sum(int(r["detail"].split()[0]) for r in records) == done.messages
    async with db.acquire() as conn:
        assert await verify_chain(conn) is None
    # A second run finds nothing more to do.
    assert (await _run(app)).messages == 0


async def test_no_retention_period_keeps_every_message(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    (message_id,) = await _reminders(client, keys["sender"], 1)
    await run_worker(settings)
    await _age(app, message_id, 10 * 365)
    assert (await _run(app, days=0)).messages == 0
    assert await app.state.resources.db.fetchval("SELECT count(*) FROM messages") == 1


async def test_a_run_cut_short_goes_on_in_the_next(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    ids = await _reminders(client, keys["sender"], 3)
    await run_worker(settings)
    for message_id in ids:
        await _age(app, message_id, DAYS + 1)
    cut = await _run(app, seconds=0)
    assert (cut.messages, cut.finished) == (0, False)
    assert (await _run(app)).messages == 3


class _StepClock:
    """The pool, with a clock that moves one tick a walk step, so that a run's deadline is a
    number of steps (retention's own clock is the machine's)."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.ticks = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)

    async def fetch(self, query: str, *args: Any) -> Any:
        if query in (QUERIES.retention_walk, QUERIES.retention_walk_random_ids):
            self.ticks += 1
        return await self.db.fetch(query, *args)


async def test_the_walk_goes_on_where_the_last_run_stopped(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows that must stay (still being retried) ahead of rows that may go: each run steps on
    from where the last one stopped, instead of over the same kept rows again, and a walk that
    reached its end starts again from the bottom."""
    db = app.state.resources.db
    ids = await _reminders(client, keys["sender"], 6)
    await run_worker(settings)
    for n, message_id in enumerate(ids):  # the oldest four are kept
        aged = await _age(app, message_id, DAYS + 10 - n)
        if n < 4:
            await db.execute("UPDATE messages SET status = 'retrying' WHERE id = $1", aged)
    monkeypatch.setattr(deletion, "BATCH", 2)
    clock = _StepClock(db)
    monkeypatch.setattr(deletion, "time", types.SimpleNamespace(monotonic=lambda: clock.ticks))
    deleted = []
    for _ in range(3):  # one step a run: two kept, two kept, then the two that may go
        clock.ticks = 0
        deleted.append((await retire(clock, DAYS, 1)).messages)  # type: ignore[arg-type]
    assert deleted == [0, 0, 2]
    assert (await _run(app)).messages == 0
    assert await db.fetchval("SELECT after FROM retention_walks WHERE walk = 'ids'") == \
        uuid.UUID(int=0)


async def _figures(client: httpx.AsyncClient, keys: dict[str, str], campaign: str) -> Any:
    shown = await progress(client, keys["marketer"], campaign)
    del shown["progress"]["current_rate"]  # sends in the last minute: the clock's, not the rows'
    metrics = await client.get(f"/v1/campaigns/{campaign}/metrics", headers=auth(keys["admin"]))
    assert metrics.status_code == 200
    return shown, metrics.json()


async def test_a_finished_campaign_is_retired_with_its_figures_kept(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    db = app.state.resources.db
    old, _ = await sent_campaign(app, client, keys, settings, mailbox, 3)
    mailbox.messages.clear()
    young, _ = await sent_campaign(app, client, keys, settings, mailbox, 2)
    await db.execute("UPDATE messages SET status = 'bounced' WHERE id = (SELECT id FROM messages"
                     " WHERE campaign_id = $1 LIMIT 1)", uuid.UUID(old))
    before = await _figures(client, keys, old)
    assert before[0]["progress"]["staged"] == 3, before[0]
    at = dt.datetime.now(dt.UTC) - dt.timedelta(days=DAYS + 1)
    for campaign in (old, young):
        # What the link purge does once every link of the campaign has expired.
        await db.execute("UPDATE campaigns SET content_sealed = NULL WHERE id = $1",
                         uuid.UUID(campaign))
    await db.execute("UPDATE campaigns SET created_at = $2 WHERE id = $1", uuid.UUID(old), at)
    await db.execute("UPDATE campaign_fanout_lanes SET touched_at = $2 WHERE campaign_id = $1",
                     uuid.UUID(old), at)
    await db.execute("UPDATE messages SET sent_at = $2 WHERE campaign_id = $1", uuid.UUID(old), at)
    for row in await db.fetch("SELECT id FROM messages WHERE campaign_id = $1", uuid.UUID(old)):
        await _age(app, row["id"], DAYS + 1)

    done = await _run(app)

    assert (done.campaigns, done.messages, done.audience) == (1, 3, 3)
    counts = {r["campaign_id"]: r["n"] for r in await db.fetch(
        "SELECT campaign_id, count(*) AS n FROM messages GROUP BY 1")}
    assert counts == {uuid.UUID(young): 2}
    audiences = {r["campaign_id"]: r["n"] for r in await db.fetch(
        "SELECT campaign_id, count(*) AS n FROM campaign_audience GROUP BY 1")}
    assert audiences == {uuid.UUID(young): 2}
    after = await _figures(client, keys, old)
    assert after == before
    assert json.loads(await db.fetchval(
        "SELECT by_status FROM campaign_figures WHERE campaign_id = $1", uuid.UUID(old))) == {
        "sent": 2, "bounced": 1}
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'campaign.retire'"
                             " AND object_id = $1", old) == 1


async def _reads(app: Starlette, query: str, *args: Any) -> set[str]:
    plan = await plan_without_seqscans(app.state.resources.db, query, *args)
    return {node["Index Name"] for node in plan_nodes(plan)
            if node.get("Relation Name") == "messages" and "Index Name" in node}


@pytest.mark.parametrize(("name", "walk_index"), [
    ("retention_walk", "messages_pkey"),
    ("retention_walk_random_ids", "messages_random_ids"),
])
async def test_the_walks_read_only_the_oldest_end(
    app: Starlette, name: str, walk_index: str,
) -> None:
    """Each walk finds its rows by key or age, never by reading the table: a random-id walk
    whose predicate stopped matching messages_random_ids' would scan it."""
    now = dt.datetime.now(dt.UTC)
    args: dict[str, list[Any]] = {
        "retention_walk": [uuid.UUID(int=0), uuid.UUID(int=1 << 127), 100],
        "retention_walk_random_ids": [now, uuid.UUID(int=0), now, 100],
    }
    assert await _reads(app, getattr(QUERIES, name), *args[name]) == {walk_index}


async def test_the_worker_job_retires_with_the_setting(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    """The cron job reads RETENTION_DAYS from the worker's settings (0 in these tests' own)."""
    (message_id,) = await _reminders(client, keys["sender"], 1)
    await run_worker(settings)
    await _age(app, message_id, DAYS + 1)
    for days, left in ((0, 1), (DAYS, 0)):
        ctx: dict[str, Any] = {"settings": dataclasses.replace(settings, retention_days=days),
                               "redis": app.state.resources.redis}
        await jobs.startup(ctx)
        try:
            await jobs.retire_old(ctx)
        finally:
            await jobs.shutdown(ctx)
        assert await app.state.resources.db.fetchval("SELECT count(*) FROM messages") == left
    crons = {job.name for job in jobs.build_worker(settings).cron_jobs}
    assert "cron:retire_old" in crons
