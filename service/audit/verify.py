"""Checking the chain, record by record in id order, holding only the record before: the
database's log, or an export file, of any length, in constant memory.

A gap in the ids alone is no sign of tampering (a transaction that rolled back after writing its
record used up the id), but a deleted record always breaks the link of the one after it, and the
report then names the ids that are missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg

from service.audit.chain import GENESIS, chain_hash
from service.audit.records import Record, span, stream


@dataclass(frozen=True, slots=True)
class Break:
    record_id: int | None  # None: a line that is not a record at all
    problem: str
    line: int | None = None  # in an export file


class Chain:
    """Feed it records in id order until ``broken`` is set. ``anchor`` is the hash the first
    record must link to; None takes the first record's own ``prev_hash`` (a middle range of the
    log, checked from there on)."""

    def __init__(self, anchor: bytes | None = GENESIS) -> None:
        self.anchor = anchor
        self.head = anchor
        self.count = 0
        self.first_id: int | None = None
        self.last_id: int | None = None
        self.broken: Break | None = None

    def add(self, record: Record, line: int | None = None) -> None:
        problem = self._problem(record)
        if problem is not None:
            self.broken = Break(record.id, problem, line)
            return
        if self.anchor is None:
            self.anchor = record.prev_hash
        self.head = record.hash
        self.count += 1
        self.first_id = record.id if self.first_id is None else self.first_id
        self.last_id = record.id

    def _problem(self, record: Record) -> str | None:
        before = self.last_id
        if before is not None and record.id <= before:
            return f"out of order: its id is not above {before}, the record before it"
        if self.head is not None and record.prev_hash != self.head:
            if before is None:
                return "broken link: its prev_hash is not the start of the log"
            missing = f" (ids {before + 1}..{record.id - 1} are missing)" if (
                record.id > before + 1) else ""
            return f"broken link: its prev_hash is not the hash of record {before}{missing}"
        expected = chain_hash(record.prev_hash, record.at, record.actor, record.action,
                              record.object_type, record.object_id, record.outcome, record.detail)
        if record.hash != expected:
            return "hash mismatch: its fields do not hash to its stored hash (altered)"
        return None

    def summary(self) -> str:
        """One line for an intact chain: how many records, which ids, and the hashes at both
        ends, to compare with the database or the neighbouring exports."""
        if self.count == 0:
            return "0 records"
        start = ("from the start of the log" if self.anchor == GENESIS else
                 f"from the anchor {self.anchor.hex() if self.anchor else ''} (the first "
                 f"record's prev_hash: the hash of the record before id {self.first_id})")
        return (f"{self.count} records, ids {self.first_id}..{self.last_id}, chained {start}; "
                f"last hash {self.head.hex() if self.head else ''}")


async def check_log(conn: asyncpg.Connection) -> Chain:
    """The whole log, from the start, as one snapshot while appends go on."""
    chain = Chain()
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        ids = await span(conn, None, None)
        if ids is not None:
            async for record in stream(conn, *ids):
                chain.add(record)
                if chain.broken is not None:
                    break
    return chain


def check_lines(lines: Iterable[str]) -> Chain:
    """An export, from the anchor its first line carries."""
    chain = Chain(anchor=None)
    for number, line in enumerate(lines, 1):
        try:
            record = Record.from_line(line)
        except ValueError as exc:
            chain.broken = Break(None, str(exc), number)
            break
        chain.add(record, number)
        if chain.broken is not None:
            break
    return chain


async def verify_chain(conn: asyncpg.Connection) -> int | None:
    """The id of the first record that does not chain, or None when the whole log is intact."""
    broken = (await check_log(conn)).broken
    return None if broken is None else broken.record_id
