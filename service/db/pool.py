"""The PostgreSQL connection pool every process uses."""

from __future__ import annotations

import asyncpg

from service.core.config import Settings
from service.db.data_keys import load_index_key
from service.db.queries import QUERIES


class _PooledConnection(asyncpg.Connection):  # type: ignore[misc]
    """Skips asyncpg's reset query on release (UNLISTEN, RESET ALL, unlock advisory locks, ...).

    Pooled connections here never change session state, so that reset would only add a round trip
    to every ``pool.fetch*`` call, which measured as a large share of a request's latency. A
    connection given back inside a transaction (a cancelled request) is still rolled back.
    """

    def get_reset_query(self) -> str:
        return "ROLLBACK" if self.is_in_transaction() else ""


async def create_db_pool(settings: Settings, min_size: int = 2, max_size: int = 20) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        settings.database_url, min_size=min_size, max_size=max_size,
        connection_class=_PooledConnection,
        # Short queries only: JIT compiling them cost up to 140 ms apiece when a plan's estimate
        # crossed jit_above_cost, for nothing.
        server_settings={"jit": "off"},
    )
    assert pool is not None
    # Every named query is prepared once at start-up, so a query broken by a migration stops
    # the process here instead of failing a request later.
    try:
        async with pool.acquire() as conn:
            await QUERIES.prepare_all(conn)
            await load_index_key(conn, settings.keyring)
    except BaseException:
        await pool.close()
        raise
    return pool
