"""Audit records as they leave the database: read in id order through a server-side cursor (a
log of any length streams in fixed batches), and written as, or read back from, one JSON line
each in an export.

An export line holds every field the hash covers, with ``at`` in the exact text that was hashed,
plus ``prev_hash`` and ``hash`` in hex. Nothing in a record is PHI: ids (UUIDs, and for a
recipient the organization-keyed blind index, which names no address without the service's
keys), actions, outcomes, and details such as a purpose, counts, an SMTP status code or TLS
evidence.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, fields
from typing import Any

import asyncpg

from service.db.queries import QUERIES

# Rows per round trip of the cursor: what bounds a reader's memory.
BATCH = 1000
_TEXT_FIELDS = ("at", "actor", "action", "object_type", "object_id", "outcome")
_HEX_DIGEST = re.compile("[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Record:
    id: int
    at: str
    actor: str
    action: str
    object_type: str
    object_id: str
    outcome: str
    detail: str | None
    prev_hash: bytes
    hash: bytes

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Record:
        return cls(row["id"], row["at"].isoformat(), row["actor"], row["action"],
                   row["object_type"], row["object_id"], row["outcome"], row["detail"],
                   bytes(row["prev_hash"]), bytes(row["hash"]))

    @classmethod
    def from_line(cls, line: str) -> Record:
        """Raises ValueError saying what is wrong with the line."""
        names = [field.name for field in fields(cls)]
        try:
            parsed: Any = json.loads(line)
        except json.JSONDecodeError:
            raise ValueError("not JSON") from None
        if not isinstance(parsed, dict) or set(parsed) != set(names):
            raise ValueError(f"not an audit record: it needs exactly {', '.join(names)}")
        if type(parsed["id"]) is not int:
            raise ValueError("`id` is not a whole number")
        for name in _TEXT_FIELDS:
            if not isinstance(parsed[name], str):
                raise ValueError(f"`{name}` is not text")
        if parsed["detail"] is not None and not isinstance(parsed["detail"], str):
            raise ValueError("`detail` is neither text nor null")
        for name in ("prev_hash", "hash"):
            if not isinstance(parsed[name], str) or not _HEX_DIGEST.fullmatch(parsed[name]):
                raise ValueError(f"`{name}` is not 64 lower-case hex digits")
        return cls(parsed["id"], parsed["at"], parsed["actor"], parsed["action"],
                   parsed["object_type"], parsed["object_id"], parsed["outcome"],
                   parsed["detail"], bytes.fromhex(parsed["prev_hash"]),
                   bytes.fromhex(parsed["hash"]))

    def line(self) -> str:
        shown = asdict(self)
        shown["prev_hash"], shown["hash"] = self.prev_hash.hex(), self.hash.hex()
        return json.dumps(shown)


async def span(conn: asyncpg.Connection, since: dt.datetime | None,
               until: dt.datetime | None) -> tuple[int, int] | None:
    """The first and last ids of the records made in ``[since, until)``, None if there are none."""
    row = await conn.fetchrow(QUERIES.audit_span, since, until)
    if row["first"] is None or row["last"] is None or row["first"] > row["last"]:
        return None
    return int(row["first"]), int(row["last"])


async def stream(conn: asyncpg.Connection, first: int, last: int) -> AsyncIterator[Record]:
    """Records ``first`` to ``last`` in id order; call inside a transaction (the cursor's)."""
    async for row in conn.cursor(QUERIES.audit_records, first, last, prefetch=BATCH):
        yield Record.from_row(row)
