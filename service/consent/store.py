"""Reads the consent ledger and suppression list for the pure decision in ``policy.py``."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from service.consent.policy import Authorization, ConsentEvent, Decision, decide
from service.core.crypto import Keyring
from service.db.queries import QUERIES


def tag_mac(keyring: Keyring, tag: str, scope: bytes) -> bytes:
    """The stored form of an organization's contact tag (migration 0006): comparable within the
    organization (``scope``), not readable."""
    return keyring.mac(b"contact-tag", scope + tag.strip().casefold().encode())


async def decisions(
    conn: asyncpg.Connection | asyncpg.Pool, wanted: Sequence[tuple[bytes, str]],
    now: dt.datetime | None = None,
) -> list[Decision]:
    """One decision per (address index, purpose), read with two queries for the whole batch."""
    indexes = list({index for index, _ in wanted})
    ledgers: dict[bytes, list[ConsentEvent]] = defaultdict(list)
    for row in await conn.fetch(QUERIES.consent_ledgers, indexes):
        authorization = None
        if row["authorization_id"] is not None:
            authorization = Authorization(
                row["authorization_id"], row["expires_at"], row["ends_on_event"]
            )
        ledgers[row["email_index"]].append(
            ConsentEvent(row["purpose"], row["action"], row["source"], row["at"], authorization)
        )
    suppressed = {row["email_index"] for row in await conn.fetch(QUERIES.suppressed_among, indexes)}
    moment = now or dt.datetime.now(dt.UTC)
    return [
        decide(purpose, ledgers.get(index, []), index in suppressed, moment)
        for index, purpose in wanted
    ]


@dataclass(frozen=True, slots=True)
class RecipientState:
    contact_id: uuid.UUID | None
    name_sealed: bytes | None
    suppressed: bool
    events: list[ConsentEvent]

    def decide(self, purpose: str, now: dt.datetime | None = None) -> Decision:
        return decide(purpose, self.events, self.suppressed, now or dt.datetime.now(dt.UTC))


async def recipient_state(conn: asyncpg.Connection | asyncpg.Pool, index: bytes) -> RecipientState:
    return read_recipient_state((await recipient_state_rows(conn, [(index, None, None)]))[0])


async def recipient_state_rows(
    conn: asyncpg.Connection | asyncpg.Pool,
    wanted: Sequence[tuple[bytes, uuid.UUID | None, str | None]],
) -> list[asyncpg.Record]:
    """One ``recipient-states`` row for each (address index, sending key, Idempotency-Key), in
    order: ``messages`` reads a whole batch of requests' recipients, and the keys' earlier
    messages, in one round trip."""
    indexes, api_key_ids, idempotency_keys = zip(*wanted, strict=True)
    rows: list[asyncpg.Record] = await conn.fetch(
        QUERIES.recipient_states, list(indexes), list(api_key_ids), list(idempotency_keys))
    return rows


def read_recipient_state(row: asyncpg.Record) -> RecipientState:
    """The recipient's part of a ``recipient-states`` row."""
    events = []
    if row["purposes"] is not None:
        for purpose, action, source, at, auth_id, expires_at, ends_on_event in zip(
            row["purposes"], row["actions"], row["sources"], row["ats"],
            row["authorization_ids"], row["expires_ats"], row["ends_on_events"], strict=True,
        ):
            authorization = (
                Authorization(auth_id, expires_at, ends_on_event) if auth_id is not None else None
            )
            events.append(ConsentEvent(purpose, action, source, at, authorization))
    return RecipientState(row["contact_id"], row["name_sealed"], row["suppressed"], events)


async def decision(
    conn: asyncpg.Connection | asyncpg.Pool, index: bytes, purpose: str
) -> Decision:
    return (await decisions(conn, [(index, purpose)]))[0]
