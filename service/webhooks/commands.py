"""The operator's verbs for webhook endpoints (``python -m service <verb>``): seeing every
organization's endpoints, and enabling one that sustained failure disabled."""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import Any

from service import audit
from service.core.config import Settings
from service.db.pool import create_db_pool
from service.db.queries import QUERIES


def register(verbs: Any) -> None:
    """Adds this capability's verbs to the CLI's subparsers; each sets ``command``."""
    listing = verbs.add_parser("webhooks-list",
                               help="list every organization's webhook endpoints")
    listing.set_defaults(command=_list)
    enable = verbs.add_parser("webhook-enable",
                              help="enable a webhook endpoint again; what waited is sent")
    enable.add_argument("--id", required=True, type=uuid.UUID, help="the endpoint's id")
    enable.set_defaults(command=_enable)


async def _list(settings: Settings, args: argparse.Namespace) -> int:
    pool = await create_db_pool(settings, min_size=1, max_size=1)
    try:
        rows = await pool.fetch(QUERIES.all_webhook_endpoints)
    finally:
        await pool.close()
    for row in rows:
        print("\t".join((str(row["id"]), row["organization"], row["status"],
                         ",".join(row["events"]), row["url"])))
    return 0


async def _enable(settings: Settings, args: argparse.Namespace) -> int:
    pool = await create_db_pool(settings, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn, conn.transaction():
            found = await conn.fetchval(QUERIES.enable_webhook_by_id, args.id)
            if found is not None:
                await audit.record(conn, actor="operator", action="webhook.enable",
                                   object_type="webhook", object_id=str(found), outcome="done")
    finally:
        await pool.close()
    if found is None:
        print(f"webhook-enable: no webhook endpoint has the id {args.id}", file=sys.stderr)
        return 1
    print(f"enabled webhook endpoint {found}")
    return 0
