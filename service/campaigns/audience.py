"""Campaign audiences: a CSV upload streamed into the database, never held whole in memory.

Each row is ``email[,name[,external id]]``; only the address is kept (sealed, with its blind
index): a campaign needs nothing else, so nothing else is stored. Rows go to PostgreSQL in
batches, one set-based INSERT each, inside one transaction: an upload lands whole or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import asyncpg

from service.access import ApiKey
from service.campaigns.lines import LineSplitter
from service.consent import tag_mac
from service.core.addresses import AddressError, email_index, normalise_address
from service.core.crypto import Keyring
from service.db.queries import QUERIES

BATCH_ROWS = 5000
MAX_ROWS = 1_000_000
MAX_LINE_BYTES = 2048
_ERROR_LINES_SHOWN = 100


class TooManyRows(Exception):
    pass


@dataclass
class AudienceReport:
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    invalid: int = 0
    # Line numbers only: the report never echoes an address back.
    invalid_lines: list[int] = field(default_factory=list)


@dataclass
class _Rows:
    """An upload's lines turned into batches of (blind index, sealed address), duplicates within
    the upload included; the report counts what is read."""

    keyring: Keyring
    scope: bytes
    campaign_id: uuid.UUID
    report: AudienceReport
    batch: list[tuple[bytes, bytes]] = field(default_factory=list)
    line_no: int = 0

    def take(self, lines: Iterator[str]) -> bool:
        """Reads ``lines`` until the batch is full (True) or they run out (False). A plain loop
        over a chunk's lines: an await per line cost as much as splitting it."""
        keyring, scope, batch, report = self.keyring, self.scope, self.batch, self.report
        bound = self.campaign_id.bytes
        for line in lines:
            self.line_no += 1
            if not line.strip():
                continue
            # A line without quotes splits as csv would, at a tenth of a csv reader's cost.
            cells = next(csv.reader([line]), []) if '"' in line else line.split(",")
            address = cells[0].strip() if cells else ""
            if (self.line_no == 1 and "@" not in address
                    and address.lower() in ("email", "e-mail", "to")):
                continue  # a header row
            report.rows += 1
            if report.rows > MAX_ROWS:
                raise TooManyRows
            try:
                normalised = normalise_address(address)
            except AddressError:
                report.invalid += 1
                if len(report.invalid_lines) < _ERROR_LINES_SHOWN:
                    report.invalid_lines.append(self.line_no)
                continue
            index = email_index(keyring, normalised, scope)
            batch.append((index, keyring.seal(normalised.encode(), bound + index)))
            if len(batch) >= BATCH_ROWS:
                return True
        return False


async def stage_csv(
    conn: asyncpg.Connection, keyring: Keyring, owner: ApiKey, campaign_id: uuid.UUID,
    chunks: AsyncIterator[bytes],
) -> AudienceReport:
    """Call inside a transaction on ``conn``, with ``chunks`` already capped in bytes; a line
    over MAX_LINE_BYTES raises ``LineTooLong`` as soon as it is read that far.

    Each batch is written while the next one is read and sealed, so that the database and this
    process work side by side instead of taking turns.
    """
    report = AudienceReport()
    rows = _Rows(keyring, owner.index_scope, campaign_id, report)
    splitter = LineSplitter(MAX_LINE_BYTES)
    writing: asyncio.Task[None] | None = None
    try:
        async for chunk in chunks:
            lines = splitter.feed(chunk)
            while rows.take(lines):
                if writing is not None:
                    await writing
                writing = asyncio.create_task(_flush(conn, campaign_id, rows.batch, report))
                rows.batch = []
                # Let the write go out now: the parser yields only when the body makes it
                # wait, and until then the database would sit idle.
                await asyncio.sleep(0)
        if (last := splitter.end()) is not None:
            rows.take(iter([last]))
        if writing is not None:
            await writing
        await _flush(conn, campaign_id, rows.batch, report)
    finally:
        # A failed upload (too many rows, a dropped connection) must not leave a write running
        # on the connection that is about to roll back.
        if writing is not None and not writing.done():
            writing.cancel()
            with contextlib.suppress(asyncio.CancelledError, asyncpg.PostgresError):
                await writing
    return report


async def _flush(conn: asyncpg.Connection, campaign_id: uuid.UUID,
                 batch: list[tuple[bytes, bytes]], report: AudienceReport) -> None:
    if not batch:
        return
    # The first occurrence of an address wins, as a person reading the file would expect.
    first_seen: dict[bytes, bytes] = {}
    for index, sealed in batch:
        first_seen.setdefault(index, sealed)
    status = await conn.execute(
        QUERIES.insert_audience_batch, campaign_id, list(first_seen), list(first_seen.values())
    )
    inserted = int(status.split()[-1])
    report.accepted += inserted
    report.duplicates += len(batch) - inserted


async def stage_authorized(
    conn: asyncpg.Connection, keyring: Keyring, owner: ApiKey, campaign_id: uuid.UUID,
    tag: str | None = None,
) -> AudienceReport:
    """Stages every contact of the owner's organization (with ``tag``, if given) whose
    marketing authorization is active right now. Call inside a transaction; consent is checked
    again at fan-out and before each send."""
    report = AudienceReport()
    cursor = b""  # below every index
    wanted = tag_mac(keyring, tag, owner.index_scope) if tag is not None else None
    while rows := await conn.fetch(QUERIES.contacts_batch, cursor, BATCH_ROWS, wanted,
                                   owner.organization_id):
        cursor = rows[-1]["email_index"]
        batch = []
        for row in rows:
            report.rows += 1
            if row["refusal"] is not None:
                continue
            address = keyring.open(row["email_sealed"], row["id"].bytes + b"email")
            index = row["email_index"]
            batch.append((index, keyring.seal(address, campaign_id.bytes + index)))
        await _flush(conn, campaign_id, batch, report)
    return report
