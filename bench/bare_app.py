"""The accept benchmark's baseline: what a user could write in an afternoon instead of the service.

Starlette and asyncpg, served by uvicorn as the service is; it takes the same JSON body, does one
INSERT per request into a table of its own (no auth, checks, sealing, consent or queue) and
answers 202 with the new row's id, in the service's shape so the load script reads both alike.

    python -m bench.bare_app --dsn postgresql://... --port 8001 [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# Where the worker processes uvicorn starts find the database (they do not see our argv).
DSN_VARIABLE = "BARE_APP_DSN"
TABLE = "bare_messages"
# The unique idempotency key is what a careful afternoon's work would add; the service has one too.
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    idempotency_key text UNIQUE,
    recipient text NOT NULL,
    purpose text NOT NULL,
    subject text NOT NULL,
    content text,
    created_at timestamptz NOT NULL DEFAULT now()
)"""
INSERT = (f"INSERT INTO {TABLE} (idempotency_key, recipient, purpose, subject, content)"  # noqa: S608
          " VALUES ($1, $2, $3, $4, $5) RETURNING id")


async def accept(request: Request) -> Response:
    body = json.loads(await request.body())
    row_id = await request.app.state.db.fetchval(
        INSERT, request.headers.get("idempotency-key"), body["to"], body["purpose"],
        body["subject"], body.get("content"))
    return JSONResponse({"id": str(row_id), "status": "queued"}, 202)


def create_app() -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The service's pool size, so neither side has more database connections.
        app.state.db = await asyncpg.create_pool(os.environ[DSN_VARIABLE], min_size=2,
                                                 max_size=20)
        yield
        await app.state.db.close()

    return Starlette(routes=[Route("/v1/messages", accept, methods=["POST"])], lifespan=lifespan)


async def execute(dsn: str, statement: str) -> None:
    """One statement on a connection of its own (bench/accept.py uses it too)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    os.environ[DSN_VARIABLE] = args.dsn
    asyncio.run(execute(args.dsn, SCHEMA))  # once, before any worker process starts
    # As the service runs uvicorn: no access log, uvicorn's default loop and HTTP parser.
    uvicorn.run("bench.bare_app:create_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
