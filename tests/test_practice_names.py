"""The organization's practice names: kept by its admins, removed from every subject before the
detector reads it (the clinic's own words are not evidence), and checked when listed."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from service.access import create_api_key, create_organization
from service.core import paths as p
from service.db.queries import QUERIES
from service.subjects import SubjectGate, SubjectPolicy
from service.subjects.gate import OrganizationList
from service.subjects.practice_names import MAX_NAME_CHARS
from tests.helpers import REMINDER, auth, send

# Refused only because the recipient is called Jordan: the practice's name is not the patient's.
PRACTICE = "Jordan Family Practice"
RECIPIENT_NAME = "Jordan Example"
NEWS = "News from Jordan Family Practice"
ORGANIZATION = uuid.UUID("00000000-0000-4000-8000-000000000001")


async def names_of(client: httpx.AsyncClient, key: str) -> list[str]:
    listed = await client.get(p.PRACTICE_NAMES, headers=auth(key))
    assert listed.status_code == 200, listed.text
    assert set(listed.json()) == {"items", "next_cursor"}
    return [item["name"] for item in listed.json()["items"]]


async def audited(app: Starlette, object_id: str) -> list[tuple[str, str, str]]:
    rows = await app.state.resources.db.fetch(
        "SELECT action, object_type, outcome FROM audit_log WHERE object_id = $1 ORDER BY id",
        object_id)
    return [(r["action"], r["object_type"], r["outcome"]) for r in rows]


async def test_admins_manage_the_practice_names(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    admin = auth(keys["admin"])
    added = await client.post(p.PRACTICE_NAMES, json={"name": "  Smith   Family  Practice "},
                              headers=admin)
    assert added.status_code == 201, added.text
    name_id = added.json()["id"]
    assert added.json() == {"id": name_id, "name": "Smith Family Practice"}
    duplicate = await client.post(p.PRACTICE_NAMES, json={"name": "SMITH family practice"},
                                  headers=admin)
    assert duplicate.status_code == 409
    assert duplicate.json()["type"].endswith("/practice-name-already-listed")
    assert await names_of(client, keys["admin"]) == ["Smith Family Practice"]
    removed = await client.delete(p.PRACTICE_NAME.format(practice_name_id=name_id), headers=admin)
    assert removed.status_code == 204
    assert await names_of(client, keys["admin"]) == []
    for missing in (name_id, str(uuid.uuid4()), "not-an-id"):
        again = await client.delete(p.PRACTICE_NAME.format(practice_name_id=missing),
                                    headers=admin)
        assert again.status_code == 404, missing
    assert await audited(app, name_id) == [
        ("practice_name.add", "practice_name", "added"),
        ("practice_name.remove", "practice_name", "removed"),
    ]


async def test_only_admins_may_read_or_change_the_list(
    client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    added = await client.post(p.PRACTICE_NAMES, json={"name": PRACTICE},
                              headers=auth(keys["admin"]))
    url = p.PRACTICE_NAME.format(practice_name_id=added.json()["id"])
    for role in ("sender", "marketer"):
        headers = auth(keys[role])
        assert (await client.get(p.PRACTICE_NAMES, headers=headers)).status_code == 403
        posted = await client.post(p.PRACTICE_NAMES, json={"name": "Another Practice"},
                                   headers=headers)
        assert posted.status_code == 403
        assert (await client.delete(url, headers=headers)).status_code == 403
    assert (await client.get(p.PRACTICE_NAMES)).status_code == 401
    assert await names_of(client, keys["admin"]) == [PRACTICE]


async def test_the_list_is_paged_oldest_first(
    client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    added = []
    for name in ("Smith Family Practice", "Cedar Grove Medical Group", "Greenway Primary Care"):
        response = await client.post(p.PRACTICE_NAMES, json={"name": name},
                                     headers=auth(keys["admin"]))
        assert response.status_code == 201, (name, response.text)
        added.append(response.json()["id"])
    seen, cursor, pages = [], None, 0
    while True:
        url = f"{p.PRACTICE_NAMES}?limit=2" + (f"&cursor={cursor}" if cursor else "")
        shown = (await client.get(url, headers=auth(keys["admin"]))).json()
        seen += [item["id"] for item in shown["items"]]
        pages += 1
        if (cursor := shown["next_cursor"]) is None:
            break
    assert (seen, pages) == (added, 2)
    bad = await client.get(f"{p.PRACTICE_NAMES}?cursor=nope", headers=auth(keys["admin"]))
    assert (bad.status_code, bad.json()["fields"]) == (422, ["cursor"])


async def test_a_name_that_reveals_a_specialty_is_refused_without_echoing_it(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    name = "Oak Hill Cancer Center"
    refused = await client.post(p.PRACTICE_NAMES, json={"name": name},
                                headers=auth(keys["admin"]))
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["type"].endswith("/practice-name-not-generic")
    assert problem["category"] == app.state.subject_gate.policy.check_practice_name(name).category
    assert problem["category"] not in (None, "format")
    assert "Cancer" not in refused.text and "cancer" not in refused.text
    assert await names_of(client, keys["admin"]) == []


@pytest.mark.parametrize("body", [
    {"name": ""}, {"name": " \t "}, {"name": "x" * (MAX_NAME_CHARS + 1)}, {"name": 5},
    {"name": None}, {"nom": PRACTICE}, {"name": PRACTICE, "extra": 1}, {},
    {"name": "Smith\nFamily Practice"}, {"name": "Smith\rFamily"}, {"name": "Smith\x7f"},
    {"name": "Smith\x85Family"}, {"name": "Smith\u2028Family"}, {"name": "Smith\x00"},
    {"name": "Smith\tFamily"},
])
async def test_a_name_must_be_one_line_of_plain_text(
    client: httpx.AsyncClient, keys: dict[str, str], body: dict[str, Any],
) -> None:
    refused = await client.post(p.PRACTICE_NAMES, json=body, headers=auth(keys["admin"]))
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"].endswith("/invalid-request")
    assert await names_of(client, keys["admin"]) == []


async def test_a_lone_surrogate_is_refused_by_the_body_reader(
    client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    refused = await client.post(p.PRACTICE_NAMES, content=b'{"name": "Smith\\ud800"}',
                                headers={**auth(keys["admin"]),
                                         "Content-Type": "application/json"})
    assert (refused.status_code, refused.json()["fields"]) == (422, ["name"])


async def test_the_longest_name_is_taken_after_its_spaces_are_collapsed(
    client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    longest = " ".join(["Smith"] * 20)[:MAX_NAME_CHARS].strip()
    assert len(longest) <= MAX_NAME_CHARS
    added = await client.post(p.PRACTICE_NAMES, json={"name": longest.replace(" ", "   ")},
                              headers=auth(keys["admin"]))
    assert (added.status_code, added.json()["name"]) == (201, longest)


async def test_another_organization_neither_sees_nor_removes_the_names(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    added = await client.post(p.PRACTICE_NAMES, json={"name": PRACTICE},
                              headers=auth(keys["admin"]))
    db = app.state.resources.db
    await create_organization(db, "Hillside Clinic")
    stranger = await create_api_key(db, "admin", "hillside admin", "Hillside Clinic")
    assert await names_of(client, stranger) == []
    url = p.PRACTICE_NAME.format(practice_name_id=added.json()["id"])
    assert (await client.delete(url, headers=auth(stranger))).status_code == 404
    # Not a 409: the first organization's list is not theirs, nor does it work for them.
    theirs = await client.post(p.PRACTICE_NAMES, json={"name": PRACTICE}, headers=auth(stranger))
    assert theirs.status_code == 201
    assert await names_of(client, keys["admin"]) == [PRACTICE]
    await client.delete(p.PRACTICE_NAME.format(practice_name_id=theirs.json()["id"]),
                        headers=auth(stranger))
    assert await names_of(client, keys["admin"]) == [PRACTICE]


async def test_a_send_naming_a_listed_practice_is_accepted_and_refused_once_it_is_removed(
    client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    contact = await client.post(p.CONTACTS, json={"email": REMINDER["to"],
                                                  "name": RECIPIENT_NAME},
                                headers=auth(keys["sender"]))
    assert contact.status_code == 201
    news = {**REMINDER, "subject": NEWS}
    before = await send(client, keys["sender"], news)
    assert (before.status_code, before.json()["category"]) == (422, "name")
    added = await client.post(p.PRACTICE_NAMES, json={"name": PRACTICE},
                              headers=auth(keys["admin"]))
    assert added.status_code == 201, added.text
    accepted = await send(client, keys["sender"], news)
    assert accepted.status_code == 202, accepted.text
    # Only the practice's name is taken out: the recipient's name elsewhere is still refused.
    named = await send(client, keys["sender"], {**news, "subject": f"Jordan, n{NEWS[1:]}"})
    assert (named.status_code, named.json()["category"]) == (422, "name")
    # Removing it takes effect at once in this process.
    await client.delete(p.PRACTICE_NAME.format(practice_name_id=added.json()["id"]),
                        headers=auth(keys["admin"]))
    after = await send(client, keys["sender"], news)
    assert (after.status_code, after.json()["category"]) == (422, "name")


async def test_every_subject_check_gets_the_organizations_practice_names(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    # "Okafor" is a surname: refused until it is part of a listed practice name.
    news = "News from Okafor Family Medicine"
    assert not SubjectPolicy().check(news).ok
    spring = {"name": "spring", "subject": "Our Spring Newsletter",
              "teaser": "From Okafor Family Medicine", "content": "Our spring newsletter."}
    assert (await send(client, keys["sender"], {**REMINDER, "subject": news})).status_code == 422
    approved = await client.post(p.APPROVED_SUBJECTS, json={"subject": news},
                                 headers=auth(keys["admin"]))
    assert approved.status_code == 422
    campaign = await client.post(p.CAMPAIGNS, json=spring, headers=auth(keys["marketer"]))
    assert campaign.status_code == 422
    added = await client.post(p.PRACTICE_NAMES, json={"name": "Okafor Family Medicine"},
                              headers=auth(keys["admin"]))
    assert added.status_code == 201
    sent = await send(client, keys["sender"], {**REMINDER, "subject": news})
    assert sent.status_code == 202, sent.text
    campaign = await client.post(p.CAMPAIGNS, json={**spring, "subject": news},
                                 headers=auth(keys["marketer"]))
    assert campaign.status_code == 201, campaign.text
    approved = await client.post(p.APPROVED_SUBJECTS, json={"subject": news},
                                 headers=auth(keys["admin"]))
    assert approved.status_code == 201, approved.text
    # A name of another organization's is nothing to this one's sends.
    db = app.state.resources.db
    await create_organization(db, "Hillside Clinic")
    stranger = await create_api_key(db, "sender", "hillside sender", "Hillside Clinic")
    theirs = await send(client, stranger, {**REMINDER, "subject": news})
    assert (theirs.status_code, theirs.json()["category"]) == (422, "name")


def test_the_detector_reads_a_subject_without_the_listed_names() -> None:
    policy = SubjectPolicy(allowed_phrases=("Riverside Clinic",))
    assert not policy.check(NEWS, recipient_names=[RECIPIENT_NAME]).ok
    assert policy.check(NEWS, recipient_names=[RECIPIENT_NAME], practice_names=[PRACTICE]).ok
    assert policy.check(NEWS.upper(), recipient_names=[RECIPIENT_NAME],
                        practice_names=[PRACTICE.lower()]).ok
    assert not policy.check(f"Jordan: {NEWS}", recipient_names=[RECIPIENT_NAME],
                            practice_names=[PRACTICE]).ok
    assert not policy.check("Your HIV results from Jordan Family Practice",
                            practice_names=[PRACTICE]).ok


class _Database:
    """What the gate reads: the organization's practice names, counting the reads."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self.reads = 0

    async def fetch(self, query: str, organization_id: uuid.UUID) -> list[dict[str, str]]:
        assert organization_id == ORGANIZATION
        if query == QUERIES.practice_names:
            self.reads += 1
            return [{"name": name} for name in self.names]
        return []


async def test_the_gate_removes_the_names_before_detection() -> None:
    gate = SubjectGate("Riverside Clinic")
    db: Any = _Database([])
    refused = await gate.decide(db, "detector", NEWS, ORGANIZATION,
                                recipient_names=[RECIPIENT_NAME])
    assert (refused.ok, refused.category) == (False, "name")
    db.names.append(PRACTICE)
    gate.practice_names.invalidate(ORGANIZATION)
    accepted = await gate.decide(db, "detector", NEWS, ORGANIZATION,
                                 recipient_names=[RECIPIENT_NAME])
    assert accepted.ok
    # Not a way around allowlist mode: only approved subjects are sent there.
    only_approved = await gate.decide(db, "allowlist", NEWS, ORGANIZATION)
    assert (only_approved.ok, only_approved.category) == (False, "not_approved")


async def test_an_organization_list_is_read_again_after_its_ttl_or_a_change() -> None:
    db: Any = _Database([PRACTICE])
    names = OrganizationList(QUERIES.practice_names, "name", ttl=60)
    assert await names.get(db, ORGANIZATION) == frozenset({PRACTICE})
    db.names.append("Smith Family Practice")
    assert await names.get(db, ORGANIZATION) == frozenset({PRACTICE})
    assert db.reads == 1
    names.invalidate(ORGANIZATION)
    assert await names.get(db, ORGANIZATION) == frozenset({PRACTICE, "Smith Family Practice"})
    expired = OrganizationList(QUERIES.practice_names, "name", ttl=-1)
    await expired.get(db, ORGANIZATION)
    await expired.get(db, ORGANIZATION)
    assert db.reads == 4
