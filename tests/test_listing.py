"""Lists in the one shape, {items, next_cursor}: GET /v1/campaigns (a marketer's own, an admin's
organization's, newest first, by status) and GET /v1/admin/subjects, paged by keyset."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette

from service.access import create_api_key, create_organization
from service.campaigns.routes import STATUSES
from service.core import paths as p
from service.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from service.shipped import openapi_document
from tests.campaign_setup import create
from tests.helpers import auth


async def every_page(client: httpx.AsyncClient, key: str, query: str = "",
                     between: Any = None) -> list[dict[str, Any]]:
    """All items, page by page; ``between`` runs after each page (more rows arriving)."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        url = f"{p.CAMPAIGNS}?limit=3{query}" + (f"&cursor={cursor}" if cursor else "")
        shown = await client.get(url, headers=auth(key))
        assert shown.status_code == 200, shown.text
        assert set(shown.json()) == {"items", "next_cursor"}
        items += shown.json()["items"]
        cursor = shown.json()["next_cursor"]
        if cursor is None:
            return items
        if between is not None:
            await between()


async def test_pages_follow_each_other_newest_first_without_repeats_or_gaps(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    made = [await create(client, keys["marketer"], name=f"Newsletter {n}") for n in range(8)]
    # Ties on created_at (one transaction's now()) are ordered by id, across page boundaries too.
    await app.state.resources.db.execute(
        "UPDATE campaigns SET created_at = (SELECT min(created_at) FROM campaigns)"
        " WHERE id = ANY($1::uuid[])", [uuid.UUID(c) for c in made[2:6]])

    async def more() -> None:
        await create(client, keys["marketer"], name="Arrived meanwhile")

    items = await every_page(client, keys["marketer"], between=more)
    ids = [item["id"] for item in items]
    assert sorted(ids) == sorted(made) and len(set(ids)) == len(ids)
    keys_in_order = [(item["created_at"], item["id"]) for item in items]
    assert keys_in_order == sorted(keys_in_order, reverse=True)
    first = items[0]
    assert set(first) == {"id", "name", "status", "created_at", "started_at", "scheduled_at"}
    assert first["status"] == "draft" and first["started_at"] is None
    # The newest page now starts with the campaigns made while paging.
    newest = await client.get(f"{p.CAMPAIGNS}?limit=2", headers=auth(keys["marketer"]))
    assert [i["name"] for i in newest.json()["items"]] == ["Arrived meanwhile"] * 2


async def test_the_status_filter_takes_the_campaign_statuses_only(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    made = [await create(client, keys["marketer"]) for _ in range(4)]
    await app.state.resources.db.execute(
        "UPDATE campaigns SET status = 'done', started_at = now() WHERE id = ANY($1::uuid[])",
        [uuid.UUID(c) for c in made[:3]])
    done = await every_page(client, keys["admin"], "&status=done")
    assert sorted(i["id"] for i in done) == sorted(made[:3])
    assert all(i["status"] == "done" and i["started_at"] for i in done)
    assert [i["id"] for i in await every_page(client, keys["admin"], "&status=draft")] == [
        made[3]]
    for wrong in ("finished", "DONE", ""):
        refused = await client.get(f"{p.CAMPAIGNS}?status={wrong}", headers=auth(keys["admin"]))
        assert refused.status_code == 422 and refused.json()["fields"] == ["status"]


async def test_a_marketer_sees_their_own_and_an_admin_the_organizations(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    colleague = await create_api_key(app.state.resources.db, "marketer", "second marketer")
    mine = [await create(client, keys["marketer"]) for _ in range(2)]
    theirs = [await create(client, colleague) for _ in range(2)]
    assert sorted(i["id"] for i in await every_page(client, keys["marketer"])) == sorted(mine)
    assert sorted(i["id"] for i in await every_page(client, colleague)) == sorted(theirs)
    assert sorted(i["id"] for i in await every_page(client, keys["admin"])) == sorted(
        mine + theirs)
    refused = await client.get(p.CAMPAIGNS, headers=auth(keys["sender"]))
    assert refused.status_code == 403


async def test_another_organizations_keys_list_none_of_the_campaigns(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    await create(client, keys["marketer"])
    db = app.state.resources.db
    await create_organization(db, "Hillside Clinic")
    for role in ("marketer", "admin"):
        stranger = await create_api_key(db, role, f"hillside {role}", "Hillside Clinic")
        shown = await client.get(p.CAMPAIGNS, headers=auth(stranger))
        assert shown.json() == {"items": [], "next_cursor": None}, role


@pytest.mark.parametrize(("query", "field"), [
    ("limit=0", "limit"), (f"limit={MAX_LIMIT + 1}", "limit"), ("limit=ten", "limit"),
    ("cursor=not-a-cursor", "cursor"), ("cursor=WyJ4IiwgInkiXQ", "cursor"),
])
async def test_a_bad_limit_or_cursor_is_a_422_naming_it(
    client: httpx.AsyncClient, keys: dict[str, str], query: str, field: str,
) -> None:
    for path, role in ((p.CAMPAIGNS, "marketer"), (p.APPROVED_SUBJECTS, "admin")):
        refused = await client.get(f"{path}?{query}", headers=auth(keys[role]))
        assert refused.status_code == 422, (path, refused.text)
        assert refused.json()["fields"] == [field]


async def test_approved_subjects_are_a_list_in_the_same_shape(
    client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    added = []
    for subject in ("Clinic Holiday Hours", "Office Hours Update", "Our Spring Newsletter"):
        response = await client.post(p.APPROVED_SUBJECTS, json={"subject": subject},
                                     headers=auth(keys["admin"]))
        added.append(response.json()["id"])
    seen, cursor = [], None
    while True:
        url = f"{p.APPROVED_SUBJECTS}?limit=2" + (f"&cursor={cursor}" if cursor else "")
        shown = (await client.get(url, headers=auth(keys["admin"]))).json()
        assert set(shown) == {"items", "next_cursor", "mode"} and shown["mode"] == "detector"
        seen += [item["id"] for item in shown["items"]]
        if (cursor := shown["next_cursor"]) is None:
            break
    assert seen == added  # oldest first


async def test_the_campaign_statuses_are_the_tables_and_the_contracts(app: Starlette) -> None:
    check = await app.state.resources.db.fetchval(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = 'campaigns'::regclass AND conname = 'campaigns_status_check'")
    assert tuple(re.findall(r"'(\w+)'", check)) == STATUSES
    spec = yaml.safe_load(openapi_document())
    assert tuple(spec["components"]["schemas"]["CampaignStatus"]["enum"]) == STATUSES


def test_the_documented_page_sizes_are_the_codes() -> None:
    limit = yaml.safe_load(openapi_document())["components"]["parameters"]["Limit"]["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (
        1, MAX_LIMIT, DEFAULT_LIMIT)
