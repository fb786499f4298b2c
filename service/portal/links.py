"""Which message a portal or unsubscribe link names.

A single message's token is random and found by its stored hash. A campaign message's token is
its id with an HMAC under the campaign's link key (``crypto.campaign_token``): the row is read by
that id and used only once the HMAC checks out.
"""

from __future__ import annotations

import uuid

import asyncpg

from service.crypto import (
    Keyring,
    campaign_token_message,
    campaign_token_valid,
    token_hash,
)


async def find_message(
    db: asyncpg.Pool, keyring: Keyring, raw: bytes, purpose: bytes, *, by_hash: str, by_id: str
) -> asyncpg.Record | None:
    row = await db.fetchrow(by_hash, token_hash(raw))
    if row is not None:
        return row
    row = await db.fetchrow(by_id, uuid.UUID(bytes=campaign_token_message(raw)))
    if row is None or row["link_key_sealed"] is None:
        return None
    link_key = keyring.open(row["link_key_sealed"], row["campaign_id"].bytes + b"link-key")
    return row if campaign_token_valid(link_key, purpose, raw) else None
