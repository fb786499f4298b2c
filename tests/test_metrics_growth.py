"""/metrics and the health page stay cheap as `messages` grows: the per-status figures read
only the rows in flight and the totals the events keep (migration 0030), the latency quantiles
only the last 15 minutes of events; and the figures follow every status change."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from service.db.queries import QUERIES
from tests.helpers import REMINDER, auth, plan_nodes, plan_without_seqscans, send

# The partial indexes that hold only waiting and in-flight rows.
IN_FLIGHT_INDEXES = {"messages_due", "messages_leased"}


async def _scans(app: Starlette, query: str, *args: Any) -> list[tuple[str, str, bool]]:
    """How the plan reads `messages` and `message_events`: (table, index, with a condition),
    with sequential scans priced out. A bitmap scan reads through the indexes beneath it."""
    scans = []
    for node in plan_nodes(await plan_without_seqscans(app.state.resources.db, query, *args)):
        table = node.get("Relation Name")
        if table not in ("messages", "message_events"):
            continue
        readers = [node] if "Index Name" in node else [
            child for child in plan_nodes(node) if child["Node Type"] == "Bitmap Index Scan"]
        assert readers, f"{node['Node Type']} on {table} reads no index"
        scans += [(table, reader["Index Name"], "Index Cond" in reader) for reader in readers]
    return scans


@pytest.mark.parametrize("name", ["messages_by_status", "recent_delivery_latency"])
async def test_the_metrics_never_read_the_whole_messages_table(
    app: Starlette, name: str,
) -> None:
    args = [[0.5, 0.99]] if name == "recent_delivery_latency" else []
    scans = await _scans(app, getattr(QUERIES, name), *args)
    assert scans
    for table, index, conditioned in scans:
        if table == "message_events":
            # The events' BRIN index on time: the last 15 minutes' block ranges only.
            assert index == "message_events_at" and conditioned, (table, index)
        elif index == "messages_pkey":
            assert conditioned, (table, index)  # one message by key, per event
        else:
            assert index in IN_FLIGHT_INDEXES, (table, index)


async def test_the_figures_follow_each_status_change(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    db = app.state.resources.db

    async def figures() -> dict[str, int]:
        return {row["status"]: row["n"] for row in await db.fetch(QUERIES.messages_by_status)}

    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    ids = []
    for n in range(3):
        response = await send(client, keys["sender"],
                              {**REMINDER, "to": f"p{n}@example.org", "send_at": later})
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    queued = await send(client, keys["sender"], {**REMINDER, "to": "q@example.org"})
    assert queued.status_code == 202
    assert await figures() == {"scheduled": 3, "queued": 1, "sending": 0}
    for message_id in ids[:2]:
        response = await client.delete(f"/v1/messages/{message_id}", headers=auth(keys["sender"]))
        assert response.status_code == 200
    assert await figures() == {"scheduled": 1, "queued": 1, "sending": 0, "cancelled": 2}
    scraped = (await client.get("/metrics", headers=auth(keys["admin"]))).text
    assert 'hipaa_mail_messages{status="scheduled"} 1' in scraped
    assert 'hipaa_mail_messages_total{status="cancelled"} 2' in scraped
    # Totals are kept per writer in up to 16 rows a status, and added up when read.
    assert await db.fetchval("SELECT sum(n) FROM message_status_totals"
                             " WHERE status = 'cancelled'") == 2
