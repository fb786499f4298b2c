"""Named SQL, loaded once at import from ``service/db/sql/*.sql``.

Each query is a block starting ``-- name: some-name``; it is reached as ``QUERIES.some_name``.
``prepare_all`` prepares every one against a database, so a query broken by a migration fails
start-up (and a test), not a request.
"""

from __future__ import annotations

import re
from importlib import resources

import asyncpg

_NAME = re.compile(r"^-- name: ([a-z0-9-]+)\s*$", re.MULTILINE)


class Queries:
    def __init__(self, texts: dict[str, str]) -> None:
        self._texts = texts
        for name, sql in texts.items():
            setattr(self, name.replace("-", "_"), sql)

    def __getattr__(self, name: str) -> str:
        raise AttributeError(f"no SQL query named {name!r}")

    @property
    def names(self) -> list[str]:
        return sorted(self._texts)

    async def prepare_all(self, conn: asyncpg.Connection) -> None:
        for sql in self._texts.values():
            await conn.prepare(sql)


def named_queries(*files: str) -> Queries:
    """The ``-- name:`` blocks of SQL ``files`` (their texts), as one ``Queries``."""
    texts: dict[str, str] = {}
    for text in files:
        parts = _NAME.split(text)
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if name in texts:
                raise ValueError(f"SQL query {name!r} is defined twice")
            texts[name] = body.strip()
    return Queries(texts)


def _load() -> Queries:
    return named_queries(*(
        entry.read_text()
        for entry in sorted(resources.files("service.db.sql").iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".sql")))


QUERIES = _load()
