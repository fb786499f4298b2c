"""The admins' approved-subject allowlist and the two subject modes."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest
from starlette.applications import Starlette

from service.subjects.policy import SubjectVerdict
from service.subjects.rules import decide_subject
from tests.helpers import REMINDER, auth, send


def _detector(subject: str) -> SubjectVerdict:
    if "hiv" in subject.casefold():
        return SubjectVerdict(False, "condition", "names a health condition")
    return SubjectVerdict(True, None, "")


APPROVED = frozenset({"upcoming appointment reminder"})


@pytest.mark.parametrize(
    ("subject", "mode", "ok", "category"),
    [
        ("Upcoming Appointment Reminder", "detector", True, None),
        ("upcoming   APPOINTMENT reminder", "allowlist", True, None),
        ("Upcoming Appointment Reminder", "allowlist", True, None),
        ("Your Monthly Statement", "detector", True, None),
        ("Your Monthly Statement", "allowlist", False, "not_approved"),
        ("Your HIV results", "detector", False, "condition"),
        ("Your HIV results", "allowlist", False, "not_approved"),
        ("Upcoming Appointment Reminder\r\nBcc: x@example.org", "detector", False, "format"),
        ("Upcoming Appointment\nReminder", "allowlist", False, "format"),
    ],
)
def test_subject_decision(subject: str, mode: str, ok: bool, category: str | None) -> None:
    decision = decide_subject(subject, mode, APPROVED, _detector)
    assert (decision.ok, decision.category) == (ok, category)


async def test_admins_manage_the_allowlist(
    client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    admin = auth(keys["admin"])
    for role in ("sender", "marketer"):
        denied = await client.post("/v1/admin/subjects", json={"subject": "Office Hours Update"},
                                   headers=auth(keys[role]))
        assert denied.status_code == 403
    added = await client.post("/v1/admin/subjects", json={"subject": " Office  Hours Update "},
                              headers=admin)
    assert added.status_code == 201
    assert added.json()["subject"] == "Office Hours Update"
    duplicate = await client.post("/v1/admin/subjects", json={"subject": "office hours update"},
                                  headers=admin)
    assert duplicate.status_code == 409
    listed = await client.get("/v1/admin/subjects", headers=admin)
    assert [s["subject"] for s in listed.json()["items"]] == ["Office Hours Update"]
    removed = await client.delete(f"/v1/admin/subjects/{added.json()['id']}", headers=admin)
    assert removed.status_code == 204
    assert (await client.get("/v1/admin/subjects", headers=admin)).json()["items"] == []
    again = await client.delete(f"/v1/admin/subjects/{added.json()['id']}", headers=admin)
    assert again.status_code == 404


async def test_an_approved_entry_must_pass_the_detector(
    client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    response = await client.post("/v1/admin/subjects", json={"subject": "Your HIV results"},
                                 headers=auth(keys["admin"]))
    assert response.status_code == 422
    assert response.json()["category"] == "condition"
    assert response.json()["span"] == {"start": 5, "end": 8}
    assert "HIV" not in response.text


async def test_allowlist_mode_accepts_only_approved_subjects(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    resources = app.state.resources
    object.__setattr__(resources, "settings", replace(resources.settings, subject_mode="allowlist"))
    refused = await send(client, keys["sender"], {**REMINDER, "subject": "Your Visit Summary"})
    assert refused.status_code == 422
    assert refused.json()["category"] == "not_approved"
    await client.post("/v1/admin/subjects", json={"subject": "Your Visit Summary"},
                      headers=auth(keys["admin"]))
    accepted = await send(client, keys["sender"], {**REMINDER, "subject": "your visit summary"})
    assert accepted.status_code == 202


async def test_the_recipients_own_name_is_refused_in_the_subject(
    client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    contact = await client.post("/v1/contacts", json={"email": REMINDER["to"],
                                                      "name": "Jordan Example"},
                                headers=auth(keys["sender"]))
    assert contact.status_code == 201
    response = await send(client, keys["sender"], {**REMINDER, "subject": "Jordan, a reminder"})
    assert response.status_code == 422
    assert response.json()["category"] == "name"
    assert "Jordan" not in response.text
