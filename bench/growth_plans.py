"""EXPLAIN (ANALYZE, BUFFERS) of the accept path's and the delivery side's queries, with the
service's own SQL (``QUERIES``) and arguments of the shapes the service passes, for
bench/table_growth.py to compare an empty database with a filled one.

Queries that write run inside a transaction that is rolled back, so the database is left as it
was. Each is run ``REPEATS`` times; the median execution time is reported with the buffers
and the plan's shape of the last run, and a sequential scan of a table that grows with the
messages is flagged: its cost is proportional to the table, not to the work.
"""

from __future__ import annotations

import json
import os
import statistics
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from service.core.config import Settings
from service.db.queries import QUERIES
from service.messages.outbox import Outgoing, row_of

REPEATS = 5
BATCH = 32  # a group-commit batch, as under load
CLAIM = 256  # the worker's claim batch
GROWING = {"messages", "message_events", "audit_log"}


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    ms: float  # median execution time
    hit: int  # shared buffers found in cache, last run
    read: int  # shared buffers read from the OS (page cache or disk), last run
    dirtied: int  # shared buffers the query changed, last run: its pages to write back
    shape: str  # node types and the relations or indexes they read
    seq_scans: list[str]  # growing tables read whole


def _walk(node: dict[str, Any], shape: list[str], seq: list[str]) -> None:
    target = node.get("Index Name") or node.get("Relation Name")
    shape.append(node["Node Type"] + (f"({target})" if target else ""))
    if node["Node Type"] == "Seq Scan" and node.get("Relation Name") in GROWING:
        seq.append(node["Relation Name"])
    for child in node.get("Plans", []):
        _walk(child, shape, seq)


async def _explain(db: asyncpg.Connection, name: str, sql: str, *args: Any,
                   before: Callable[[asyncpg.Connection], Any] | None = None,
                   repeats: int = REPEATS) -> Plan:
    """``before`` runs first in the same transaction and gives the leading arguments."""
    times, plan = [], {}
    for _ in range(repeats):
        transaction = db.transaction()
        await transaction.start()
        try:
            leading = await before(db) if before is not None else ()
            text = await db.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql,
                                     *leading, *args)
        finally:
            await transaction.rollback()
        plan = json.loads(text)[0]
        times.append(plan["Execution Time"])
    shape: list[str] = []
    seq: list[str] = []
    _walk(plan["Plan"], shape, seq)
    top = plan["Plan"]
    return Plan(name, statistics.median(times), top["Shared Hit Blocks"],
                top["Shared Read Blocks"], top["Shared Dirtied Blocks"], " > ".join(shape), seq)


async def explain_all(dsn: str, settings: Settings) -> list[Plan]:
    """The plans in the database at ``dsn``; ``settings`` seals the rows insert-messages takes
    (the database's bench key signs them)."""
    db = await asyncpg.connect(dsn)
    key = await db.fetchrow("SELECT k.id, o.index_scope FROM api_keys k JOIN organizations o "
                            "ON o.id = k.organization_id ORDER BY k.created_at DESC LIMIT 1")
    # Idempotency keys and addresses nobody used, as a new request has; and one key that is.
    # The batch is insert_rows' (the service's) arrays, column by column.
    used = await db.fetchrow("SELECT api_key_id, idempotency_key, token_hash, id FROM messages "
                             "WHERE idempotency_key IS NOT NULL LIMIT 1")
    indexes = [os.urandom(32) for _ in range(BATCH)]
    key_ids = [key["id"]] * BATCH
    idempotency = [f"bench-{uuid.uuid4()}" for _ in range(BATCH)]
    if used is not None:
        key_ids[0], idempotency[0] = used["api_key_id"], used["idempotency_key"]
    rows = [row_of(settings.keyring, Outgoing(
        api_key_id=key["id"], purpose="treatment", subject="Upcoming Appointment Reminder",
        recipient=f"p{n}@example.org", recipient_index=indexes[n],
        content=f"Dr. Rivera, Tue 10:30, visit {n}. Bring your medication list.",
        idempotency_key=idempotency[n], request_digest=os.urandom(32))) for n in range(BATCH)]
    columns = [list(column) for column in zip(*rows, strict=True)]
    give_up, portal = float(settings.retry_give_up_seconds), float(settings.portal_ttl_seconds)

    async def claimed(conn: asyncpg.Connection) -> tuple[Any, ...]:
        ids = [r["id"] for r in await conn.fetch(QUERIES.claim_due_messages, 40, 15.0)]
        evidence = ["TLSv1.3"] * len(ids), ["TLS_AES_256_GCM_SHA384"] * len(ids)
        return (ids, *evidence, ["ab" * 32] * len(ids), ["relay.test"] * len(ids),
                [uuid.uuid4()], [None])

    async def claimed_ids(conn: asyncpg.Connection) -> tuple[Any, ...]:
        return ((await claimed(conn))[0],)

    token = used["token_hash"] if used is not None else os.urandom(32)
    message = used["id"] if used is not None else uuid.uuid4()
    plans = [
        await _explain(db, "recipient-states (accept)", QUERIES.recipient_states, indexes,
                       key_ids, idempotency),
        await _explain(db, "insert-messages + events (accept)", QUERIES.insert_messages,
                       *columns, give_up, portal),
        await _explain(db, "claim-due-messages (deliver)", QUERIES.claim_due_messages, CLAIM,
                       15.0),
        await _explain(db, "record-progress, 40 sent (deliver)", QUERIES.record_progress,
                       before=claimed),
        await _explain(db, "renew-leases, 40 (deliver)", QUERIES.renew_leases, 15.0,
                       before=claimed_ids),
        await _explain(db, "any-due (sweep)", QUERIES.any_due),
        await _explain(db, "next-due-in (deliver)", QUERIES.next_due_in),
        await _explain(db, "reclaim-lost-sends (sweep)", QUERIES.reclaim_lost_sends),
        await _explain(db, "purge-expired-content (cron)", QUERIES.purge_expired_content),
        await _explain(db, "audit-last-hash (deliver)", QUERIES.audit_last_hash),
        await _explain(db, "portal-message (patient)", QUERIES.portal_message, token, message),
        await _explain(db, "message-status (GET)", QUERIES.message_status, message,
                       key_ids[0]),
        await _explain(db, "messages-due-now (/metrics)", QUERIES.messages_due_now),
        # Whole-table reads: twice is enough to see it.
        await _explain(db, "messages-by-status (/metrics)", QUERIES.messages_by_status,
                       repeats=2),
        await _explain(db, "recent-delivery-latency (/metrics)",
                       QUERIES.recent_delivery_latency, [0.5, 0.99], repeats=2),
    ]
    await db.close()
    return plans
