"""An organization's webhook endpoints: registering one (its URL checked and its secret sealed),
rotating the secret, enabling, deleting. Each change is audited in its own transaction; another
organization's endpoint is never found.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from service import audit
from service.access import ApiKey
from service.core.crypto import Keyring
from service.db.queries import QUERIES
from service.webhooks.signing import new_secret

# How long a rotated-out secret keeps signing beside the new one: a day to deploy the new one.
ROTATION_OVERLAP_SECONDS = 24 * 3600


def secret_aad(endpoint_id: uuid.UUID) -> bytes:
    """Both secret columns are bound to the endpoint alone, so a rotation moves the sealed value
    from one to the other as it is."""
    return endpoint_id.bytes + b"webhook-secret"


def render(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]), "url": row["url"], "events": list(row["events"]),
        "status": row["status"], "created_at": row["created_at"].isoformat(),
        "disabled_at": row["disabled_at"].isoformat() if row["disabled_at"] else None,
    }


async def _audited(db: asyncpg.Pool, key: ApiKey, action: str, query: str,
                   *args: Any) -> asyncpg.Record | None:
    async with db.acquire() as conn, conn.transaction():
        row: asyncpg.Record | None = await conn.fetchrow(query, *args)
        if row is not None:
            await audit.record(conn, actor=key.actor, action=action, object_type="webhook",
                               object_id=str(row["id"]), outcome="done")
        return row


async def create(db: asyncpg.Pool, keyring: Keyring, key: ApiKey, url: str,
                 events: Sequence[str]) -> tuple[asyncpg.Record, bytes]:
    endpoint_id = uuid.uuid4()
    secret = new_secret()
    row = await _audited(db, key, "webhook.create", QUERIES.insert_webhook_endpoint, endpoint_id,
                         key.organization_id, url, list(events),
                         keyring.seal(secret, secret_aad(endpoint_id)))
    assert row is not None
    return row, secret


async def rotate(db: asyncpg.Pool, keyring: Keyring, key: ApiKey,
                 endpoint_id: uuid.UUID) -> tuple[asyncpg.Record, bytes] | None:
    secret = new_secret()
    row = await _audited(db, key, "webhook.rotate_secret", QUERIES.rotate_webhook_secret,
                         endpoint_id, key.organization_id,
                         keyring.seal(secret, secret_aad(endpoint_id)),
                         float(ROTATION_OVERLAP_SECONDS))
    return None if row is None else (row, secret)


async def enable(db: asyncpg.Pool, key: ApiKey, endpoint_id: uuid.UUID) -> asyncpg.Record | None:
    return await _audited(db, key, "webhook.enable", QUERIES.enable_webhook_endpoint,
                          endpoint_id, key.organization_id)


async def delete(db: asyncpg.Pool, key: ApiKey, endpoint_id: uuid.UUID) -> bool:
    return await _audited(db, key, "webhook.delete", QUERIES.delete_webhook_endpoint,
                          endpoint_id, key.organization_id) is not None


def signing_secrets(keyring: Keyring, row: asyncpg.Record) -> list[bytes]:
    """The secrets a request is signed with: the current one, and a rotated-out one still within
    its overlap (the claim leaves ``previous_secret_sealed`` NULL once it has ended)."""
    aad = secret_aad(row["endpoint_id"])
    found = [keyring.open(row["secret_sealed"], aad)]
    if row["previous_secret_sealed"] is not None:
        found.append(keyring.open(row["previous_secret_sealed"], aad))
    return found
