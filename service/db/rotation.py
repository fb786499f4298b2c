"""Master-key rotation: every sealed value re-sealed under the active key.

``python -m service rotate-keys`` walks each sealed column in primary-key order, a batch per
transaction, and replaces a value only if it is still the one it read (a send or purge that
changed the row meanwhile wins). Values already under the active key are skipped, so a second
run, or a run after an interruption, just carries on. When it is done the census says which
keys stored values still need; a key no value needs can be dropped from MASTER_KEYS.

The one exception: portal content sealed before token-layered blobs existed (version 1) needs
its token to be re-sealed. While the message is unsent the token is still stored, and the
rotation converts it; after delivery only the patient has the token, so such content keeps its
old key until it expires (``PORTAL_TTL_SECONDS``) and is purged.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from service.core.crypto import DecryptionError, Keyring, decode_token
from service.db.data_keys import data_key_aad

log = logging.getLogger(__name__)

_BATCH = 500


def _by_id(suffix: bytes) -> Callable[[asyncpg.Record], bytes]:
    return lambda row: bytes(row["id"].bytes) + suffix


def _recipient_aad(row: asyncpg.Record) -> bytes:
    # A campaign's messages carry the audience row's sealed address as it is, bound to the
    # campaign and the address index (campaigns/fanout.py); a single send's to its own id.
    if row["campaign_id"] is not None:
        return bytes(row["campaign_id"].bytes) + bytes(row["recipient_index"])
    return bytes(row["id"].bytes) + b"recipient"


@dataclass(frozen=True, slots=True)
class SealedColumn:
    """A column of sealed values and the associated data each value is bound to."""

    table: str
    column: str
    key: tuple[str, ...]
    aad: Callable[[asyncpg.Record], bytes]
    token_bound: bool = False
    # Further columns ``aad`` reads.
    reads: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"


# Every sealed column in the schema; a test holds this list to information_schema.
SEALED_COLUMNS = (
    SealedColumn("data_keys", "sealed", ("name",), lambda row: data_key_aad(row["name"])),
    SealedColumn("contacts", "email_sealed", ("id",), _by_id(b"email")),
    SealedColumn("contacts", "name_sealed", ("id",), _by_id(b"name")),
    SealedColumn("contacts", "external_ref_sealed", ("id",), _by_id(b"external_ref")),
    SealedColumn("messages", "recipient_sealed", ("id",), _recipient_aad,
                 reads=("campaign_id", "recipient_index")),
    SealedColumn("messages", "token_sealed", ("id",), _by_id(b"token")),
    SealedColumn("messages", "unsubscribe_sealed", ("id",), _by_id(b"unsubscribe")),
    SealedColumn("messages", "content_sealed", ("id",), _by_id(b"content"), token_bound=True),
    SealedColumn("messages", "verification_hint_sealed", ("id",), _by_id(b"verification-hint"),
                 token_bound=True),
    SealedColumn("campaigns", "content_sealed", ("id",), _by_id(b"content")),
    SealedColumn("campaigns", "link_key_sealed", ("id",), _by_id(b"link-key")),
    SealedColumn("marketing_authorizations", "terms_sealed", ("id",), _by_id(b"terms")),
    SealedColumn("campaign_audience", "email_sealed", ("campaign_id", "email_index"),
                 lambda row: bytes(row["campaign_id"].bytes) + bytes(row["email_index"])),
    SealedColumn("admin_totp", "secret_sealed", ("api_key_id",),
                 lambda row: bytes(row["api_key_id"].bytes) + b"totp"),
    # Both of an endpoint's secrets share one binding, so a rotation moves the value as it is.
    SealedColumn("webhook_endpoints", "secret_sealed", ("id",), _by_id(b"webhook-secret")),
    SealedColumn("webhook_endpoints", "previous_secret_sealed", ("id",),
                 _by_id(b"webhook-secret")),
)


@dataclass
class ColumnResult:
    resealed: int = 0
    # Values that could not be re-sealed, by the key they still need.
    stuck: Counter[str] = field(default_factory=Counter)


@dataclass
class Report:
    active: str
    kids: tuple[str, ...]
    columns: dict[str, ColumnResult]
    # kid -> values still sealed under it, over the whole schema, counted after the run.
    census: Counter[str]

    @property
    def retired(self) -> list[str]:
        """Keys in the keyring that no stored value needs any more."""
        return sorted(k for k in self.kids if k != self.active and not self.census[k])

    @property
    def still_needed(self) -> list[str]:
        return sorted(k for k in self.census if k != self.active)


async def rotate(pool: asyncpg.Pool, keyring: Keyring, batch: int = _BATCH) -> Report:
    columns = {}
    for column in SEALED_COLUMNS:
        columns[column.name] = await _rotate_column(pool, keyring, column, batch)
        log.info("%s: %d re-sealed", column.name, columns[column.name].resealed)
    return Report(keyring.active, tuple(keyring.keys), columns, await census(pool))


async def census(pool: asyncpg.Pool) -> Counter[str]:
    """How many stored values each key id seals, across every sealed column."""
    counts: Counter[str] = Counter()
    for c in SEALED_COLUMNS:
        rows = await pool.fetch(
            f"SELECT convert_from(substring({c.column} FROM 3 FOR get_byte({c.column}, 1)),"  # noqa: S608
            f" 'UTF8') AS kid, count(*) AS n FROM {c.table} WHERE {c.column} IS NOT NULL"
            " GROUP BY 1"
        )
        counts.update({row["kid"]: row["n"] for row in rows})
    return counts


async def _rotate_column(pool: asyncpg.Pool, keyring: Keyring, c: SealedColumn,
                         batch: int) -> ColumnResult:
    result = ColumnResult()
    keys = ", ".join(c.key)
    extra = "".join(f", {name}" for name in (*c.reads, *(("token_sealed",) if c.token_bound
                                                           else ())))
    select = (
        f"SELECT {keys}, {c.column} AS sealed{extra} FROM {c.table}"  # noqa: S608
        f" WHERE {c.column} IS NOT NULL"
        f" AND (substring({c.column} FROM 3 FOR get_byte({c.column}, 1)) <> $1"
        + (f" OR get_byte({c.column}, 0) = 1" if c.token_bound else "")
        + ")"
    )
    cursor = ", ".join(f"${n}" for n in range(3, 3 + len(c.key)))
    first = select + f" ORDER BY {keys} LIMIT $2"
    after = select + f" AND ({keys}) > ({cursor}) ORDER BY {keys} LIMIT $2"
    match = " AND ".join(f"{k} = ${n}" for n, k in enumerate(c.key, start=3))
    update = f"UPDATE {c.table} SET {c.column} = $1 WHERE {c.column} = $2 AND {match}"  # noqa: S608
    active = keyring.active.encode()
    last: tuple[object, ...] | None = None
    while True:
        if last is None:
            rows = await pool.fetch(first, active, batch)
        else:
            rows = await pool.fetch(after, active, batch, *last)
        if not rows:
            return result
        changes = []
        for row in rows:
            new = _reseal(keyring, c, row)
            if new is None:
                result.stuck[keyring.kid_of(row["sealed"])] += 1
                continue
            changes.append((new, row["sealed"], *(row[k] for k in c.key)))
        async with pool.acquire() as conn, conn.transaction():
            await conn.executemany(update, changes)
        result.resealed += len(changes)
        last = tuple(rows[-1][k] for k in c.key)


def _reseal(keyring: Keyring, c: SealedColumn, row: asyncpg.Record) -> bytes | None:
    """The row's value under the active key, or None when this run cannot re-seal it."""
    aad = c.aad(row)
    try:
        resealed = keyring.reseal(row["sealed"], aad)
    except DecryptionError:
        resealed = None  # a key no longer listed, a tampered value, or version-1 token content
    if resealed is not None or not c.token_bound or row["token_sealed"] is None:
        return resealed
    try:
        token = decode_token(
            keyring.open(row["token_sealed"], bytes(row["id"].bytes) + b"token").decode())
        if token is None:
            return None
        return keyring.seal_for_token(keyring.open_with_token(row["sealed"], token, aad),
                                      token, aad)
    except DecryptionError:
        return None
