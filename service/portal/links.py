"""Which message a portal or unsubscribe link names.

A single message's token is random and found by its stored hash. A campaign message's token is
its id with an HMAC under the campaign's link key (``crypto.campaign_token``): the row is found
by that id and used only once the HMAC checks out. One query looks both ways.
"""

from __future__ import annotations

import uuid

import asyncpg

from service.core.crypto import (
    Keyring,
    campaign_token_message,
    campaign_token_valid,
    token_hash,
)


async def find_message(
    db: asyncpg.Pool, keyring: Keyring, raw: bytes, purpose: bytes, query: str
) -> asyncpg.Record | None:
    """``query`` takes the token's hash and the id it may carry, and returns ``derived_link``,
    ``campaign_id`` and ``link_key_sealed`` with the row."""
    row = await db.fetchrow(query, token_hash(raw), uuid.UUID(bytes=campaign_token_message(raw)))
    if row is None or not row["derived_link"]:
        return row
    if row["link_key_sealed"] is None:
        return None
    link_key = keyring.open(row["link_key_sealed"], row["campaign_id"].bytes + b"link-key")
    return row if campaign_token_valid(link_key, purpose, raw) else None
