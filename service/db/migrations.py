"""Forward-only migrations: numbered plain .sql files, each applied once, in order.

The files ship inside the package (``service.shipped``), so an installed wheel migrates exactly as
a checkout does. A build that finds no files, or fewer than the database has already applied, is
refused: either would leave the service running against a schema it does not know.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from service.shipped import migration_files

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same in every process that migrates this database.
_LOCK_KEY = 0x6D61696C


class MigrationError(Exception):
    """Migrating would be unsafe; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    sql: str


def shipped_migrations() -> list[Migration]:
    return [Migration(f.name.removesuffix(".sql"), f.read_text()) for f in migration_files()]


def head(migrations: Sequence[Migration] | None = None) -> str | None:
    """The newest migration this build carries."""
    found = shipped_migrations() if migrations is None else migrations
    return found[-1].version if found else None


async def migrate(dsn: str, migrations: Sequence[Migration] | None = None) -> list[str]:
    """Apply pending migrations; returns the versions applied by this call.

    Safe to run from several processes at once: a session-level advisory lock serialises them, and
    each file runs in its own transaction together with its bookkeeping row.
    """
    # A handful of small packaged files, read once at deploy time: blocking I/O is harmless here.
    files = shipped_migrations() if migrations is None else list(migrations)
    if not files:
        raise MigrationError(
            "no migration files found in this installation (service/shipped/migrations); "
            "the package was built without them"
        )
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            unknown = sorted(done - {m.version for m in files})
            if unknown:
                raise MigrationError(
                    f"the database has {len(unknown)} migration(s) this build does not have "
                    f"(newest {unknown[-1]}; this build ends at {files[-1].version}): "
                    "run a build at least as new as the one that migrated it"
                )
            applied = []
            for migration in files:
                if migration.version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version) VALUES ($1)", migration.version
                    )
                log.info("applied migration %s", migration.version)
                applied.append(migration.version)
            return applied
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()
