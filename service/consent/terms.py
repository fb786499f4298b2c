"""An authorization's free text, sealed.

What a HIPAA marketing authorization says is used, by whom, for what and until which event is the
clinic's own wording, and a clinic may well write a condition there ("information about my
diabetes care"). So it is stored like message content: one JSON document sealed to the
authorization's id. Only ``ends_on_event`` stays in the clear, since a row must say it expires.
"""

from __future__ import annotations

import json
import uuid

import asyncpg

from service.consent.input import NewAuthorization
from service.core.crypto import Keyring
from service.db.queries import QUERIES

_BATCH = 500


def terms_aad(authorization_id: uuid.UUID) -> bytes:
    return authorization_id.bytes + b"terms"


def _seal(keyring: Keyring, authorization_id: uuid.UUID, terms: dict[str, str | None]) -> bytes:
    return keyring.seal(json.dumps(terms, sort_keys=True).encode(), terms_aad(authorization_id))


def seal_terms(keyring: Keyring, authorization_id: uuid.UUID, new: NewAuthorization) -> bytes:
    return _seal(keyring, authorization_id, {
        "information_used": new.information_used, "used_by": new.used_by,
        "purpose": new.purpose_description, "expiry_event": new.expiry_event,
    })


def open_terms(keyring: Keyring, authorization_id: uuid.UUID, sealed: bytes) -> dict[str, str]:
    terms: dict[str, str] = json.loads(keyring.open(sealed, terms_aad(authorization_id)))
    return terms


async def seal_plaintext_terms(db: asyncpg.Pool, keyring: Keyring) -> int:
    """Seals the terms of authorizations written before migration 0018 and clears their
    plaintext; run by ``migrate``, so an upgrade leaves none. Returns how many it sealed."""
    sealed = 0
    while rows := await db.fetch(QUERIES.plaintext_authorization_terms, _BATCH):
        await db.executemany(QUERIES.seal_authorization_terms, [
            (row["id"], _seal(keyring, row["id"], {
                "information_used": row["information_used"], "used_by": row["used_by"],
                "purpose": row["purpose_description"], "expiry_event": row["expiry_event"],
            })) for row in rows
        ])
        sealed += len(rows)
    return sealed
