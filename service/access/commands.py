"""The operator's verbs for organizations and API keys (``python -m service <verb>``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from service.access.keys import ROLES, create_api_key
from service.access.organizations import OrganizationError, create_organization
from service.core.config import Settings
from service.db.pool import create_db_pool


def register(verbs: Any) -> None:
    """Adds this capability's verbs to the CLI's subparsers; each sets ``command``."""
    key = verbs.add_parser("create-key", help="print a new API key once")
    key.add_argument("--role", required=True, choices=ROLES)
    key.add_argument("--name", required=True)
    key.add_argument("--organization",
                     help="the organization the key belongs to (default: the only one there is)")
    key.set_defaults(command=_create_key)
    organization = verbs.add_parser("create-organization",
                                    help="add an organization (a tenant) for API keys to join")
    organization.add_argument("--name", required=True)
    organization.set_defaults(command=_create_organization)


async def _create_key(settings: Settings, args: argparse.Namespace) -> int:
    pool = await create_db_pool(settings, min_size=1, max_size=1)
    try:
        key = await create_api_key(pool, args.role, args.name, args.organization)
    except OrganizationError as exc:
        print(f"create-key: {exc}", file=sys.stderr)
        return 1
    finally:
        await pool.close()
    print(f"created {args.role} key {args.name!r}; it is shown only once:", file=sys.stderr)
    print(key)
    return 0


async def _create_organization(settings: Settings, args: argparse.Namespace) -> int:
    pool = await create_db_pool(settings, min_size=1, max_size=1)
    try:
        await create_organization(pool, args.name)
    except OrganizationError as exc:
        print(f"create-organization: {exc}", file=sys.stderr)
        return 1
    finally:
        await pool.close()
    print(f"created organization {args.name.strip()!r}")
    return 0
