"""Tenancy: a second organization's keys can neither read nor change the first's contacts,
consent, messages, campaigns, approved subjects, practice names or metrics. Every /v1 route of
the real route table is tried; a route added later fails here until someone says how it is kept
apart."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from service.access import ROLES, create_api_key, create_organization
from service.core import paths as p
from service.core.config import Settings
from service.http.routes import route_table
from tests.campaign_setup import authorize_all, create, marketer_key_id
from tests.helpers import REMINDER, auth
from tests.test_cli import run
from tests.test_consent_flow import NEWSLETTER, authorization

PATIENT = "pat.jones@example.org"
OTHER = "Hillside Clinic"

# A body each id route accepts, so that what answers is the ownership check, not validation.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", p.CONTACT_CONSENTS): {"purpose": "treatment", "action": "revoke"},
    ("POST", p.CONTACT_AUTHORIZATIONS): authorization(),
    ("PUT", p.CONTACT_TAGS): {"tags": ["spring-fair"]},
    ("POST", p.CAMPAIGN_AUDIENCE): {"select": "authorized"},
}

# The /v1 routes that name no object, and the test below that shows each is kept apart.
WITHOUT_IDS = {
    ("POST", p.MESSAGES): "test_consent_in_one_organization_allows_nothing_in_another",
    ("POST", p.CONTACTS): "test_one_address_is_two_contacts_in_two_organizations",
    ("POST", p.SUPPRESSIONS): "test_a_suppression_in_one_organization_leaves_another_alone",
    ("POST", p.CAMPAIGNS): "test_approved_subjects_and_metrics_are_the_organizations_own",
    ("GET", p.METRICS): "test_approved_subjects_and_metrics_are_the_organizations_own",
    ("GET", p.APPROVED_SUBJECTS): "test_approved_subjects_and_metrics_are_the_organizations_own",
    ("POST", p.APPROVED_SUBJECTS): "test_approved_subjects_and_metrics_are_the_organizations_own",
    # tests/test_practice_names.py
    ("GET", p.PRACTICE_NAMES): "test_another_organization_neither_sees_nor_removes_the_names",
    ("POST", p.PRACTICE_NAMES): "test_another_organization_neither_sees_nor_removes_the_names",
    # tests/test_listing.py
    ("GET", p.CAMPAIGNS): "test_another_organizations_keys_list_none_of_the_campaigns",
    # tests/test_webhooks_api.py
    ("POST", p.WEBHOOKS): "test_webhooks_and_their_events_are_the_organizations_own",
    ("GET", p.WEBHOOKS): "test_webhooks_and_their_events_are_the_organizations_own",
    # tests/test_keys.py
    ("GET", p.KEYS): "test_an_admin_lists_its_organizations_keys_and_never_a_secret",
    ("POST", p.KEYS): "test_a_created_key_is_shown_once_works_for_its_role_and_is_audited",
}


def api_routes() -> list[tuple[str, str]]:
    return sorted(
        (method, route.path) for route in route_table() if isinstance(route, Route)
        and route.path.startswith("/v1/") for method in (route.methods or ()) if method != "HEAD"
    )


async def other_organization(app: Starlette) -> dict[str, str]:
    db = app.state.resources.db
    await create_organization(db, OTHER)
    return {role: await create_api_key(db, role, f"hillside {role}", OTHER) for role in ROLES}


async def first_organizations_objects(client: httpx.AsyncClient, keys: dict[str, str]) -> dict[
        str, str]:
    contact = await client.post(p.CONTACTS, json={"email": PATIENT}, headers=auth(keys["sender"]))
    contact_id = contact.json()["id"]
    authorized = await client.post(p.CONTACT_AUTHORIZATIONS.format(contact_id=contact_id),
                                   json=authorization(), headers=auth(keys["sender"]))
    assert authorized.status_code == 201, authorized.text
    message = await client.post(p.MESSAGES, json={**REMINDER, "to": PATIENT},
                                headers=auth(keys["sender"]))
    assert message.status_code == 202, message.text
    subject = await client.post(p.APPROVED_SUBJECTS, json={"subject": "Clinic Holiday Hours"},
                                headers=auth(keys["admin"]))
    assert subject.status_code == 201, subject.text
    practice = await client.post(p.PRACTICE_NAMES, json={"name": "Smith Family Practice"},
                                 headers=auth(keys["admin"]))
    assert practice.status_code == 201, practice.text
    # A public address literal: registering checks it, and nothing is ever sent to it here.
    webhook = await client.post(p.WEBHOOKS, json={"url": "https://1.1.1.1/hooks",
                                                  "events": ["message.sent"]},
                                headers=auth(keys["admin"]))
    assert webhook.status_code == 201, webhook.text
    return {
        "contact_id": contact_id, "message_id": message.json()["id"],
        "campaign_id": await create(client, keys["marketer"]),
        "subject_id": subject.json()["id"], "webhook_id": webhook.json()["id"],
        "practice_name_id": practice.json()["id"],
        "key_id": keys["sender"].split("_")[1],
    }


def test_every_api_route_is_covered() -> None:
    with_ids = {route for route in api_routes() if "{" in route[1]}
    assert set(api_routes()) - with_ids == set(WITHOUT_IDS)
    assert set(BODIES) <= with_ids


async def test_another_organizations_ids_are_not_found_on_every_route(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    ids = await first_organizations_objects(client, keys)
    strangers = await other_organization(app)
    tried = 0
    for method, path in api_routes():
        if "{" not in path:
            continue
        url = path.format(**ids)
        statuses = []
        for key in strangers.values():
            body = BODIES.get((method, path))
            response = await client.request(method, url, json=body, headers=auth(key))
            statuses.append(response.status_code)
        # The role allowed on the route is told "not found"; the others are refused by role
        # first. Neither says the object exists.
        assert 404 in statuses and set(statuses) <= {403, 404}, (method, path, statuses)
        tried += 1
    assert tried == len([r for r in api_routes() if "{" in r[1]])
    # Nothing of the first organization's changed.
    consent = await client.get(p.CONTACT_CONSENT.format(contact_id=ids["contact_id"]),
                               headers=auth(keys["sender"]))
    assert consent.json()["treatment"]["allowed"] is True
    campaign = await client.get(p.CAMPAIGN.format(campaign_id=ids["campaign_id"]),
                                headers=auth(keys["marketer"]))
    assert campaign.json()["status"] == "draft"
    subjects = await client.get(p.APPROVED_SUBJECTS, headers=auth(keys["admin"]))
    assert [s["id"] for s in subjects.json()["items"]] == [ids["subject_id"]]
    practices = await client.get(p.PRACTICE_NAMES, headers=auth(keys["admin"]))
    assert [n["id"] for n in practices.json()["items"]] == [ids["practice_name_id"]]
    tags = await app.state.resources.db.fetchval("SELECT tag_macs FROM contacts WHERE id = $1",
                                                 uuid.UUID(ids["contact_id"]))
    assert tags == []


async def test_one_address_is_two_contacts_in_two_organizations(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    first = await client.post(p.CONTACTS, json={"email": PATIENT}, headers=auth(keys["sender"]))
    strangers = await other_organization(app)
    second = await client.post(p.CONTACTS, json={"email": PATIENT.upper()},
                               headers=auth(strangers["sender"]))
    # A 200 with the first organization's id would tell the stranger the address is a patient.
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]
    again = await client.post(p.CONTACTS, json={"email": PATIENT},
                              headers=auth(strangers["marketer"]))
    assert (again.status_code, again.json()["id"]) == (200, second.json()["id"])


async def test_a_suppression_in_one_organization_leaves_another_alone(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    contact = (await client.post(p.CONTACTS, json={"email": PATIENT},
                                 headers=auth(keys["sender"]))).json()["id"]
    strangers = await other_organization(app)
    suppressed = await client.post(p.SUPPRESSIONS, json={"email": PATIENT, "reason": "manual"},
                                   headers=auth(strangers["admin"]))
    assert suppressed.status_code == 201
    state = await client.get(p.CONTACT_CONSENT.format(contact_id=contact),
                             headers=auth(keys["sender"]))
    assert state.json()["treatment"] == {"allowed": True, "reason": None}
    # The stranger's own sends to the address are what it suppressed.
    refused = await client.post(p.MESSAGES, json={**REMINDER, "to": PATIENT},
                                headers=auth(strangers["sender"]))
    assert (refused.status_code, refused.json()["reason"]) == (422, "suppressed")


async def test_consent_in_one_organization_allows_nothing_in_another(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    await authorize_all(app, [PATIENT], await marketer_key_id(app))
    mine = await client.post(p.MESSAGES, json={**NEWSLETTER, "to": PATIENT},
                             headers=auth(keys["sender"]))
    assert mine.status_code == 202, mine.text
    strangers = await other_organization(app)
    theirs = await client.post(p.MESSAGES, json={**NEWSLETTER, "to": PATIENT},
                               headers=auth(strangers["sender"]))
    assert (theirs.status_code, theirs.json()["reason"]) == (422, "no_authorization")
    campaign = await create(client, strangers["marketer"])
    staged = await client.post(p.CAMPAIGN_AUDIENCE.format(campaign_id=campaign),
                               json={"select": "authorized"}, headers=auth(strangers["marketer"]))
    assert (staged.json()["rows"], staged.json()["accepted"]) == (0, 0)


async def test_approved_subjects_and_metrics_are_the_organizations_own(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    ids = await first_organizations_objects(client, keys)
    await app.state.resources.db.execute(
        "UPDATE campaigns SET status = 'done', started_at = now() WHERE id = $1",
        uuid.UUID(ids["campaign_id"]))
    strangers = await other_organization(app)
    theirs = await client.get(p.APPROVED_SUBJECTS, headers=auth(strangers["admin"]))
    assert theirs.json()["items"] == []
    again = await client.post(p.APPROVED_SUBJECTS, json={"subject": "Clinic Holiday Hours"},
                              headers=auth(strangers["admin"]))
    assert again.status_code == 201  # not 409: the first organization's list is not theirs
    for role in ("marketer", "admin"):
        shown = await client.get(p.METRICS, headers=auth(strangers[role]))
        assert shown.status_code == 200 and shown.json()["campaigns"] == [], role
    mine = await client.get(p.METRICS, headers=auth(keys["admin"]))
    assert [c["campaign_id"] for c in mine.json()["campaigns"]] == [ids["campaign_id"]]
    # A campaign of their own works as ever.
    await create(client, strangers["marketer"])


@pytest.mark.parametrize("name", ["", " ", "x" * 201, "tab\there"])
async def test_an_organization_needs_a_plain_name(app: Starlette, name: str) -> None:
    from service.access import OrganizationError

    with pytest.raises(OrganizationError):
        await create_organization(app.state.resources.db, name)


async def test_a_key_must_name_its_organization_once_there_are_several(app: Starlette) -> None:
    from service.access import OrganizationError

    db = app.state.resources.db
    assert await create_api_key(db, "sender", "only one organization yet")
    await create_organization(db, OTHER)
    with pytest.raises(OrganizationError, match="name one"):
        await create_api_key(db, "sender", "which one?")
    with pytest.raises(OrganizationError, match="no organization"):
        await create_api_key(db, "sender", "x", "Nowhere Clinic")
    with pytest.raises(OrganizationError, match="exists"):
        await create_organization(db, OTHER)


async def test_the_organization_verbs_make_a_working_key_of_the_named_organization(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path,
) -> None:
    env = {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
           "MASTER_KEYS": ",".join(f"{kid}:{base64.b64encode(key).decode()}"
                                   for kid, key in settings.keyring.keys.items())}
    assert run(tmp_path, "create-organization", "--name", OTHER, **env).returncode == 0
    again = run(tmp_path, "create-organization", "--name", OTHER, **env)
    assert again.returncode == 1 and "exists" in again.stderr
    ambiguous = run(tmp_path, "create-key", "--role", "sender", "--name", "x", **env)
    assert ambiguous.returncode == 1 and "name one" in ambiguous.stderr
    made = run(tmp_path, "create-key", "--role", "sender", "--name", "Hillside EHR",
               "--organization", OTHER, **env)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    contact = await client.post(p.CONTACTS, json={"email": PATIENT}, headers=auth(key))
    assert contact.status_code == 201
