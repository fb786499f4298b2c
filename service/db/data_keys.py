"""The database's own keys, sealed under the master key: today the blind-index key.

Every process loads it before it computes an index (``create_db_pool`` does), so all of them key
addresses and tags alike whichever master keys they hold.
"""

from __future__ import annotations

import asyncpg

from service.core.config import ConfigError
from service.core.crypto import DecryptionError, Keyring
from service.db.queries import QUERIES

INDEX_KEY = "index"


def data_key_aad(name: str) -> bytes:
    return name.encode() + b"/data-key"


async def load_index_key(conn: asyncpg.Connection, keyring: Keyring) -> None:
    aad = data_key_aad(INDEX_KEY)
    await conn.execute(QUERIES.insert_data_key, INDEX_KEY, keyring.seal(keyring.index_key, aad))
    sealed: bytes = await conn.fetchval(QUERIES.data_key, INDEX_KEY)
    try:
        keyring.use_index_key(keyring.open(sealed, aad))
    except DecryptionError:
        raise ConfigError(
            "MASTER_KEYS",
            f"does not hold key {keyring.kid_of(sealed)!r}, which seals the database's index key",
        ) from None
