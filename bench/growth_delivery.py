"""The database side of delivering the backlog the accept rounds left queued, with the worker's
own statements and no SMTP: claim a batch (``claim-due-messages``), mark it sent a group of
sessions at a time (``record-progress``, each with its transport evidence) and append the
deliveries' audit records (``recorder.audit_deliveries``, the hash chain included). What that
costs per message, in time and (with bench/growth_wal.py) in WAL, is what delivery adds to
PostgreSQL, and what a growing table can make worse: each of these updates changes an indexed
column (status, lease_until), so none is HOT, and every index of ``messages`` gets a new entry.
"""

from __future__ import annotations

import time
import uuid

import asyncpg

from service.db.queries import QUERIES
from service.delivery.lease import LEASE_SECONDS
from service.delivery.recorder import audit_deliveries

CLAIM = 256  # the worker's claim
SESSIONS = 16  # sent marks per record-progress: about one per SMTP session
_EVIDENCE = ("TLSv1.3", "TLS_AES_256_GCM_SHA384", "ab" * 32, "relay.clinic.example")


async def deliver_backlog(dsn: str, messages: int) -> tuple[int, float]:
    """Delivers up to ``messages`` of what is due; returns how many, and the seconds it took."""
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    session = uuid.uuid4()
    done, began = 0, time.perf_counter()
    while done < messages:
        claimed = [r["id"] for r in await pool.fetch(QUERIES.claim_due_messages,
                                                    min(CLAIM, messages - done), LEASE_SECONDS)]
        if not claimed:
            break
        for start in range(0, len(claimed), SESSIONS):
            group = claimed[start:start + SESSIONS]
            await pool.fetchval(QUERIES.record_progress, group,
                                *([value] * len(group) for value in _EVIDENCE),
                                [session], [None])
        await audit_deliveries(pool)
        done += len(claimed)
    seconds = time.perf_counter() - began
    await pool.execute(QUERIES.end_wire_sessions, [session])
    await pool.close()
    return done, seconds
