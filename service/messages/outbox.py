"""Writing a message into the outbox: sealing its PHI and inserting its row in one statement."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import asyncpg

from service.core.config import Settings
from service.core.crypto import Keyring, new_token, token_hash
from service.core.randomness import time_ordered_uuid
from service.db.queries import QUERIES

CONFIRMATION_SUBJECT = "Please Confirm Your Email Preferences"


@dataclass(frozen=True, slots=True)
class Outgoing:
    api_key_id: uuid.UUID
    purpose: str
    subject: str
    recipient: str
    # The recipient's blind index in the sender's organization (core/addresses.py); the caller
    # has it already from the consent check.
    recipient_index: bytes
    kind: str = "secure_message"
    content: str | None = None
    verification_hash: bytes | None = None
    # What the patient is asked, and how the answer is compared ("text" or "date").
    verification_hint: str | None = None
    verification_format: str | None = None
    # For a confirmation email: the link token, made by the caller who stores its hash.
    link_token: tuple[str, bytes] | None = None
    idempotency_key: str | None = None
    request_digest: bytes | None = None
    # Not before this; None: at once.
    send_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Sealed:
    """A message's PHI, sealed and bound to its id, as the outbox row stores it."""

    id: uuid.UUID
    recipient_sealed: bytes
    recipient_index: bytes
    token_sealed: bytes
    token_hash: bytes
    content_sealed: bytes | None
    verification_hint_sealed: bytes | None
    unsubscribe_sealed: bytes | None
    unsubscribe_hash: bytes | None


def seal(keyring: Keyring, purpose: str, recipient: str, content: str | None,
         index: bytes, link_token: tuple[str, bytes] | None = None,
         verification_hint: str | None = None) -> Sealed:
    message_id = time_ordered_uuid()
    aad = message_id.bytes
    token, raw_token = link_token or new_token()
    content_sealed = hint_sealed = None
    if content is not None:
        content_sealed = keyring.seal_for_token(content.encode(), raw_token, aad + b"content")
    # Bound to the link as the content is: only the link's holder is shown the hint.
    if verification_hint is not None:
        hint_sealed = keyring.seal_for_token(verification_hint.encode(), raw_token,
                                             aad + b"verification-hint")
    unsubscribe_sealed = unsubscribe_hash = None
    if purpose == "marketing":
        unsubscribe, raw_unsubscribe = new_token()
        unsubscribe_sealed = keyring.seal(unsubscribe.encode(), aad + b"unsubscribe")
        unsubscribe_hash = token_hash(raw_unsubscribe)
    return Sealed(
        id=message_id,
        recipient_sealed=keyring.seal(recipient.encode(), aad + b"recipient"),
        recipient_index=index,
        token_sealed=keyring.seal(token.encode(), aad + b"token"),
        token_hash=token_hash(raw_token),
        content_sealed=content_sealed,
        verification_hint_sealed=hint_sealed,
        unsubscribe_sealed=unsubscribe_sealed,
        unsubscribe_hash=unsubscribe_hash,
    )


class Row(NamedTuple):
    """An outbox row's own values, in the order of ``insert-messages``' arrays."""

    id: uuid.UUID
    api_key_id: uuid.UUID
    purpose: str
    subject: str
    recipient_sealed: bytes
    token_sealed: bytes
    token_hash: bytes
    content_sealed: bytes | None
    verification_hash: bytes | None
    idempotency_key: str | None
    request_digest: bytes | None
    recipient_index: bytes
    kind: str
    unsubscribe_sealed: bytes | None
    unsubscribe_hash: bytes | None
    send_at: dt.datetime | None
    verification_hint_sealed: bytes | None
    verification_format: str | None


def row_of(keyring: Keyring, message: Outgoing) -> Row:
    """Seals ``message`` into the values of its outbox row."""
    sealed = seal(keyring, message.purpose, message.recipient, message.content,
                  message.recipient_index, message.link_token, message.verification_hint)
    return Row(
        sealed.id, message.api_key_id, message.purpose, message.subject,
        sealed.recipient_sealed, sealed.token_sealed, sealed.token_hash, sealed.content_sealed,
        message.verification_hash, message.idempotency_key, message.request_digest,
        sealed.recipient_index, message.kind, sealed.unsubscribe_sealed, sealed.unsubscribe_hash,
        message.send_at, sealed.verification_hint_sealed, message.verification_format,
    )


async def insert_rows(conn: asyncpg.Connection | asyncpg.Pool, settings: Settings,
                      rows: Sequence[Row]) -> list[uuid.UUID | None]:
    """Writes ``rows`` in one statement (one commit, unless ``conn`` is in a transaction).
    Returns each row's id, or None where its idempotency key was already used."""
    inserted = {record[0] for record in await conn.fetch(
        QUERIES.insert_messages, *(list(column) for column in zip(*rows, strict=True)),
        float(settings.retry_give_up_seconds), float(settings.portal_ttl_seconds),
    )}
    return [row.id if row.id in inserted else None for row in rows]


async def insert(conn: asyncpg.Connection | asyncpg.Pool, settings: Settings,
                 message: Outgoing) -> uuid.UUID | None:
    """Returns the new id, or None when the idempotency key was already used."""
    return (await insert_rows(conn, settings, [row_of(settings.keyring, message)]))[0]
