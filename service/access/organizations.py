"""Organizations: the tenants. Every API key belongs to one; what its keys create (contacts,
consent, campaigns, approved subjects) is visible only to the same organization's keys.

Addresses and tags are looked up by keyed digests; an organization's digests are keyed with its
own ``index_scope`` as well, so the same address is two unrelated contacts in two organizations
and a lookup made for one can never find the other's rows.
"""

from __future__ import annotations

import secrets
import uuid

import asyncpg

from service.db.queries import QUERIES


class OrganizationError(ValueError):
    """The organization named does not exist, or none was named where a choice is needed."""


async def create_organization(db: asyncpg.Pool, name: str) -> uuid.UUID:
    name = name.strip()
    if not 1 <= len(name) <= 200 or not name.isprintable():
        raise OrganizationError("an organization's name is 1 to 200 printable characters")
    # A leading NUL: no address or tag starts with one, so no scope is a prefix of another's data.
    created: uuid.UUID | None = await db.fetchval(
        QUERIES.insert_organization, uuid.uuid4(), name, b"\x00" + secrets.token_bytes(16)
    )
    if created is None:
        raise OrganizationError(f"an organization named {name!r} exists already")
    return created


async def find_organization(db: asyncpg.Pool, name: str | None) -> uuid.UUID:
    """The organization called ``name``; with no name, the only one there is (a fresh install has
    just "default"), so a single-clinic deployment never has to think about tenancy."""
    if name is not None:
        found: uuid.UUID | None = await db.fetchval(QUERIES.organization_by_name, name)
        if found is None:
            raise OrganizationError(f"no organization is named {name!r}")
        return found
    rows = await db.fetch(QUERIES.organizations)
    if len(rows) != 1:
        raise OrganizationError("there are several organizations: name one")
    only: uuid.UUID = rows[0]["id"]
    return only
