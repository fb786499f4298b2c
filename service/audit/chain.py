"""Hash-chained audit records of every use of PHI or consent.

Each record's hash covers its fields and the previous record's hash, so editing or deleting a
record breaks the chain from there on (``verify.py`` finds where). Records name ids and
outcomes, never addresses or content. The table is append-only by trigger; truncating its tail
is the one change the chain alone cannot show, so ship the latest hash off the database too.

The hashed bytes are the README's "Checking an export by hand": an auditor recomputes them from
an export with the standard library alone, so they must stay exactly these.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from service.db.queries import QUERIES

GENESIS = bytes(32)
_LOCK_KEY = 0x61756474


def chain_hash(
    prev: bytes, at: str, actor: str, action: str, object_type: str, object_id: str,
    outcome: str, detail: str | None,
) -> bytes:
    """``at`` is the time as ``datetime.isoformat`` writes it, as exports carry it."""
    fields = [at, actor, action, object_type, object_id, outcome, detail]
    return hashlib.sha256(prev + json.dumps(fields, separators=(",", ":")).encode()).digest()


@dataclass(frozen=True, slots=True)
class Entry:
    actor: str
    action: str
    object_type: str
    object_id: str
    outcome: str
    detail: str | None = None


async def record(
    conn: asyncpg.Connection, *, actor: str, action: str, object_type: str, object_id: str,
    outcome: str, detail: str | None = None,
) -> None:
    """Appends one record; call inside the transaction of the change it records."""
    await record_many(conn, [Entry(actor, action, object_type, object_id, outcome, detail)])


async def record_many(conn: asyncpg.Connection, entries: Sequence[Entry]) -> None:
    """Appends records in order, chained, with one lock and one read of the chain's head (the
    worker records deliveries a group at a time)."""
    if not entries:
        return
    if not conn.is_in_transaction():
        raise RuntimeError("audit records are written inside the audited transaction")
    await conn.execute(QUERIES.audit_lock, _LOCK_KEY)
    prev = await conn.fetchval(QUERIES.audit_last_hash) or GENESIS
    rows = []
    for e in entries:
        # Microsecond precision, as PostgreSQL stores it, so the hash can be recomputed.
        at = dt.datetime.now(dt.UTC)
        digest = chain_hash(prev, at.isoformat(), e.actor, e.action, e.object_type,
                            e.object_id, e.outcome, e.detail)
        rows.append((at, e.actor, e.action, e.object_type, e.object_id, e.outcome, e.detail,
                     prev, digest))
        prev = digest
    await conn.executemany(QUERIES.audit_insert, rows)
