"""Fan-out at scale: each batch reads only its own rows of the audience whatever the planner
knows of its size, the rows never pass through the worker's memory, and a batch's due times
are the pacing positions of its messages."""

from __future__ import annotations

import datetime as dt
import json
import os
import tracemalloc
import uuid

import httpx
import pytest
from starlette.applications import Starlette

from service.campaigns import fanout
from service.campaigns.lanes import ABOVE_EVERY_INDEX, campaign_position
from service.campaigns.pacing import due_at, lane_pace
from service.db.queries import QUERIES
from tests.campaign_setup import authorize_all, create, marketer_key_id
from tests.helpers import auth, plan_nodes

MB = 1_000_000


async def _staged_directly(app: Starlette, campaign: str, rows: int) -> None:
    """Setup only: ``rows`` audience rows of random indexes, as an upload would leave them (the
    sealed address is never opened by the fan-out, so any bytes will do)."""
    await app.state.resources.db.copy_records_to_table(
        "campaign_audience", columns=["campaign_id", "email_index", "email_sealed"],
        records=[(uuid.UUID(campaign), os.urandom(32), os.urandom(60)) for _ in range(rows)])


async def test_a_batch_reads_only_its_own_rows_of_an_audience_the_planner_has_not_counted(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    """A fresh audience of 100,000 rows that no ANALYZE has seen: read from the middle of a
    lane, a batch of 500 reads 500 audience rows, not the rest of the lane."""
    db = app.state.resources.db
    await db.execute("ALTER TABLE campaign_audience SET (autovacuum_enabled = false)")
    try:
        campaign = await create(client, keys["marketer"])
        await _staged_directly(app, campaign, 100000)
        now = dt.datetime.now(dt.UTC)
        async with db.acquire() as conn, conn.transaction():
            await fanout.plan_batch_reads(conn)
            (plan,) = json.loads(await conn.fetchval(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + QUERIES.fan_out_batch, uuid.UUID(campaign),
                b"\x40", 500, ABOVE_EVERY_INDEX, "Our Spring Newsletter", now, now, now, 0.1))
            await conn.execute("ROLLBACK AND CHAIN")  # the EXPLAIN's inserts go
    finally:
        await db.execute("ALTER TABLE campaign_audience RESET (autovacuum_enabled)")
    reads = [node for node in plan_nodes(plan["Plan"])
             if node.get("Relation Name") == "campaign_audience"]
    assert len(reads) == 1
    assert reads[0]["Actual Rows"] == 500, reads[0]["Node Type"]


async def test_fanning_out_holds_no_recipient_rows_in_the_worker(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    """20,000 recipients in batches of 10,000: the worker's allocations stay far below what
    one batch of rows would take (about 5 MB as records), so its memory does not follow the
    batch, let alone the audience."""
    resources = app.state.resources
    authorized = [f"fan{n}@example.org" for n in range(20)]
    await authorize_all(app, authorized, await marketer_key_id(app))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    campaign = await create(client, keys["marketer"], scheduled_at=later.isoformat())
    await client.post(f"/v1/campaigns/{campaign}/audience",
                      content="\n".join(authorized).encode(),
                      headers={**auth(keys["marketer"]), "Content-Type": "text/csv"})
    await _staged_directly(app, campaign, 20000)
    assert (await client.post(f"/v1/campaigns/{campaign}/send",
                              headers=auth(keys["marketer"]))).status_code == 202
    tracemalloc.start()
    try:
        created = 0
        for lane in range(resources.settings.fanout_lanes):
            made, finished = await fanout.fan_out(resources.db, resources.settings,
                                                  uuid.UUID(campaign), lane, float("inf"))
            assert finished
            created += made
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert created == 20
    excluded = json.loads(await resources.db.fetchval(QUERIES.campaign_excluded,
                                                      uuid.UUID(campaign)))
    assert excluded == {"no_authorization": 20000}
    assert peak < 0.5 * MB, peak


@pytest.mark.parametrize(("lanes", "rate"), [(1, 10.0), (2, 3.0), (3, 7.5), (16, 10000.0)])
def test_a_batch_schedule_gives_each_message_its_pacing_position(lanes: int, rate: float) -> None:
    start = dt.datetime(2026, 3, 14, 9, 30, tzinfo=dt.UTC)
    for lane in range(lanes):
        for position in (0, 1, 999_983):
            first, step = lane_pace(start, lane, lanes, position, rate)
            for k in (0, 1, 9999):
                due = first + dt.timedelta(seconds=step * k)
                expected = due_at(start, campaign_position(lane, lanes, position + k), rate)
                assert abs(due - expected) <= dt.timedelta(microseconds=2)
