"""The operator's verbs for organizations and API keys (``python -m service <verb>``). Changes
made here are audited with the actor ``cli``."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

from service.access import key_admin
from service.access.keys import ROLES
from service.access.organizations import (
    OrganizationError,
    create_organization,
    find_organization,
)
from service.core.config import Settings
from service.core.problems import Problem
from service.db.pool import create_db_pool

ACTOR = "cli"
_COLUMNS = ("key_id", "organization", "role", "name", "status", "created_at", "last_used_at",
            "expires_at", "revoked_at", "rotated_from")


def _future_time(most: dt.timedelta | None = None) -> Any:
    def parse(text: str) -> dt.datetime:
        try:
            return key_admin.future(key_admin.parse_time(text), most)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


def register(verbs: Any) -> None:
    """Adds this capability's verbs to the CLI's subparsers; each sets ``command``."""
    key = verbs.add_parser("create-key", help="print a new API key once")
    key.add_argument("--role", required=True, choices=ROLES)
    key.add_argument("--name", required=True)
    key.add_argument("--organization",
                     help="the organization the key belongs to (default: the only one there is)")
    key.add_argument("--expires-at", type=_future_time(),
                     help="refuse the key from this time on (ISO 8601 with offset)")
    key.set_defaults(command=_create_key)
    listing = verbs.add_parser("list-keys", help="list API keys (never their secrets)")
    listing.add_argument("--organization", help="only this organization's (default: all)")
    listing.set_defaults(command=_list_keys)
    revoke = verbs.add_parser("revoke-key", help="refuse an API key from now on, everywhere")
    revoke.add_argument("--key-id", required=True,
                        help="the key's public id: the 16 hex digits after 'hm_'")
    revoke.set_defaults(command=_revoke_key)
    rotate = verbs.add_parser(
        "rotate-key", help="print a new key replacing one; the old one works until a given time")
    rotate.add_argument("--key-id", required=True,
                        help="the key's public id: the 16 hex digits after 'hm_'")
    rotate.add_argument("--old-valid-until", type=_future_time(key_admin.MAX_ROTATION_OVERLAP),
                        help="when the old key stops working (ISO 8601 with offset; "
                             "default: in 24 hours; at most 30 days ahead)")
    rotate.set_defaults(command=_rotate_key)
    organization = verbs.add_parser("create-organization",
                                    help="add an organization (a tenant) for API keys to join")
    organization.add_argument("--name", required=True)
    organization.set_defaults(command=_create_organization)


async def _create_key(settings: Settings, args: argparse.Namespace) -> int:
    pool = await create_db_pool(settings, min_size=1, max_size=1)
    try:
        new = await key_admin.create_key(
            pool, ACTOR, args.role, args.name, await find_organization(pool, args.organization),
            args.expires_at)
    except OrganizationError as exc:
        print(f"create-key: {exc}", file=sys.stderr)
        return 1
    finally:
        await pool.close()
    print(f"created {args.role} key {args.name!r} ({new.key_id}); it is shown only once:",
          file=sys.stderr)
    print(new.presented)
    return 0


async def _list_keys(settings: Settings, args: argparse.Namespace) -> int:
    pool = await create_db_pool(settings, min_size=1, max_size=1)
    try:
        organization = (None if args.organization is None
                        else await find_organization(pool, args.organization))
        rows = await key_admin.listing(pool, organization)
    except OrganizationError as exc:
        print(f"list-keys: {exc}", file=sys.stderr)
        return 1
    finally:
        await pool.close()
    print("\t".join(_COLUMNS))
    for row in rows:
        print("\t".join(_cell(row[column]) for column in _COLUMNS))
    return 0


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="seconds")
    # A name is the operator's own text: a tab or newline in it must not shift the columns.
    return " ".join(str(value).split())


async def _revoke_key(settings: Settings, args: argparse.Namespace) -> int:
    pool = await create_db_pool(settings, min_size=1, max_size=1)
    try:
        revoked = await key_admin.revoke_key(pool, ACTOR, args.key_id, None)
    except Problem as exc:
        print(f"revoke-key: {args.key_id}: {_told(exc)}", file=sys.stderr)
        return 1
    finally:
        await pool.close()
    print(f"revoked key {args.key_id}" if revoked else f"key {args.key_id} was revoked already")
    return 0


async def _rotate_key(settings: Settings, args: argparse.Namespace) -> int:
    pool = await create_db_pool(settings, min_size=1, max_size=1)
    try:
        rotated = await key_admin.rotate_key(pool, ACTOR, args.key_id, None, args.old_valid_until)
    except Problem as exc:
        print(f"rotate-key: {args.key_id}: {_told(exc)}", file=sys.stderr)
        return 1
    finally:
        await pool.close()
    print(f"key {args.key_id} works until {rotated.old_valid_until.isoformat(timespec='seconds')};"
          f" its replacement ({rotated.new.key_id}) is shown only once:", file=sys.stderr)
    print(rotated.new.presented)
    return 0


def _told(problem: Problem) -> str:
    return f"{problem.title}. {problem.detail}" if problem.detail else problem.title


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
