"""What a round of accepts wrote, in one database of a shared PostgreSQL cluster: its WAL
(read back with pg_walinspect, so other databases' writes in the same span are left out), its
full-page images by relation, and how much each table and index grew.

pg_current_wal_lsn() alone counts the whole cluster, and other benches and tests write to it
meanwhile; a record counts here when it touches a block of this database, or belongs to a
transaction that does (its commit record).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

# A block reference reads "rel <tablespace>/<database>/<relfilenode> fork main blk <n>", with
# " (FPW); hole: ..." when the record carries that block's full-page image.
_WAL_SHARE = """
WITH r AS (
    SELECT xid::text::bigint AS xid, record_length, fpi_length, block_ref
    FROM pg_get_wal_records_info($1::text::pg_lsn, $2::text::pg_lsn)
), mine AS (
    SELECT DISTINCT xid FROM r WHERE xid <> 0 AND block_ref LIKE '%/' || $3 || '/%'
)
SELECT coalesce(sum(record_length), 0)::bigint AS bytes,
       coalesce(sum(fpi_length), 0)::bigint AS fpi_bytes
FROM r WHERE block_ref LIKE '%/' || $3 || '/%' OR xid IN (SELECT xid FROM mine)
"""
_FPIS = """
SELECT c.relname, count(*) AS images
FROM pg_get_wal_records_info($1::text::pg_lsn, $2::text::pg_lsn) r,
     regexp_matches(r.block_ref, 'rel \\d+/' || $3 || '/(\\d+) fork main blk \\d+ \\(FPW', 'g') m
JOIN pg_class c ON pg_relation_filenode(c.oid) = m[1]::oid
GROUP BY c.relname ORDER BY images DESC
"""
_SIZES = """
SELECT c.relname, pg_relation_size(c.oid) AS bytes FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'i')
"""
_CHECKPOINT_AGE = "SELECT extract(epoch FROM now() - checkpoint_time) FROM pg_control_checkpoint()"


@dataclass(frozen=True, slots=True)
class Mark:
    lsn: str
    sizes: dict[str, int]
    checkpoint_age: float  # seconds since the last checkpoint began the round


@dataclass(frozen=True, slots=True)
class Written:
    # None: the span's WAL was recycled before it was read (a checkpoint forced by other
    # databases' writes); the round's other figures still count.
    wal_bytes: int | None
    fpi_bytes: int
    cluster_wal_bytes: int  # every database's, for comparison
    images: dict[str, int]  # full-page images by relation
    growth: dict[str, int]  # bytes by relation
    checkpoint_age: float


async def mark(db: asyncpg.Connection) -> Mark:
    sizes = {r["relname"]: r["bytes"] for r in await db.fetch(_SIZES)}
    return Mark(await db.fetchval("SELECT pg_current_wal_flush_lsn()::text"), sizes,
                float(await db.fetchval(_CHECKPOINT_AGE)))


async def written_since(db: asyncpg.Connection, before: Mark) -> Written:
    """Needs the pg_walinspect extension in ``db``'s database."""
    after = await mark(db)
    database = str(await db.fetchval(
        "SELECT oid FROM pg_database WHERE datname = current_database()"))
    span = (before.lsn, after.lsn, database)
    try:
        share = await db.fetchrow(_WAL_SHARE, *span)
        images = {r["relname"]: r["images"] for r in await db.fetch(_FPIS, *span)}
    except asyncpg.UndefinedFileError:
        share, images = {"bytes": None, "fpi_bytes": 0}, {}
    cluster = await db.fetchval("SELECT $2::text::pg_lsn - $1::text::pg_lsn", *span[:2])
    growth = {name: size - before.sizes.get(name, 0) for name, size in after.sizes.items()
              if size != before.sizes.get(name, 0)}
    return Written(share["bytes"], share["fpi_bytes"], int(cluster), images, growth,
                   before.checkpoint_age)
