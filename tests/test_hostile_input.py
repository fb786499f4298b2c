"""No input gives a 500: text that nothing downstream can hold (NUL, a lone surrogate), JSON
nested without end, a null where text is required, and dates off the sane range are each a 4xx
problem naming the field, never echoing the value."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from service.core.bodies import MAX_JSON_DEPTH
from service.core.fields import EARLIEST_DATE, LATEST_DATE
from tests.helpers import REMINDER, auth

CONTACT = f"/v1/contacts/{uuid.uuid4()}"
AUTHORIZATION: dict[str, Any] = {
    "information_used": "Name and address", "used_by": "Riverside Clinic",
    "purpose": "Spring fair invitations", "expiry_event": "End of the fair",
    "signed_at": "2024-01-01T00:00:00+00:00", "revocation_right_noted": True,
    "remuneration": False, "document_sha256": "ab" * 32,
}
CAMPAIGN: dict[str, Any] = {
    "name": "Spring fair", "subject": "News from the clinic", "teaser": "See what is new",
    "links": ["https://clinic.example.org/fair"],
}
# (role, method, path, a valid body, its text fields): every JSON input the API takes.
JSON_INPUTS: list[tuple[str, str, str, dict[str, Any], tuple[str, ...]]] = [
    ("sender", "POST", "/v1/messages", {**REMINDER, "verification": "1980-03-14"},
     ("to", "purpose", "subject", "content", "verification")),
    ("sender", "POST", "/v1/contacts",
     {"email": "pat@example.org", "name": "Pat", "external_ref": "MRN-1", "tags": ["fair"]},
     ("email", "name", "external_ref", "tags")),
    ("sender", "POST", f"{CONTACT}/consents",
     {"purpose": "treatment", "action": "grant", "source": "paper"},
     ("purpose", "action", "source")),
    ("sender", "POST", f"{CONTACT}/authorizations", AUTHORIZATION,
     ("information_used", "used_by", "purpose", "expiry_event", "signed_at", "document_sha256")),
    ("sender", "PUT", f"{CONTACT}/tags", {"tags": ["fair", "spring"]}, ("tags",)),
    ("sender", "POST", "/v1/suppressions", {"email": "pat@example.org", "reason": "manual"},
     ("email", "reason")),
    ("marketer", "POST", "/v1/campaigns", {**CAMPAIGN, "content": "Saturday, 10 to 4"},
     ("name", "subject", "content", "teaser", "links")),
    ("admin", "POST", "/v1/admin/subjects", {"subject": "Your Clinic Newsletter"}, ("subject",)),
]
# JSON escapes, as a client sends them: json.loads turns each into the character itself.
UNSTORABLE = {"NUL": "\\u0000", "lone high surrogate": "\\ud800",
              "lone low surrogate": "\\udfff"}


def _label(path: str) -> str:
    return path.replace(CONTACT, "/v1/contacts/{id}")


def _with(value: Any, bad: str) -> Any:
    """The value with ``bad`` inside it: a string gets it in the middle, a list in an item."""
    if isinstance(value, list):
        return [_with(value[0], bad), *value[1:]]
    return value[:1] + bad + value[1:] if isinstance(value, str) else bad


def _cases() -> list[Any]:
    return [
        pytest.param(role, method, path, body, field, bad,
                     id=f"{method} {_label(path)} {field} {name}")
        for role, method, path, body, fields in JSON_INPUTS
        for field in fields
        for name, bad in UNSTORABLE.items()
    ]


async def _send(client: httpx.AsyncClient, key: str, method: str, path: str,
                raw: str) -> httpx.Response:
    return await client.request(method, path, content=raw.encode(), headers={
        **auth(key), "Content-Type": "application/json"})


def _problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["type"].endswith("/" + slug)
    return problem


@pytest.mark.parametrize(("role", "method", "path", "body", "field", "bad"), _cases())
async def test_unstorable_text_in_any_field_is_a_problem_naming_it(
    client: httpx.AsyncClient, keys: dict[str, str], role: str, method: str, path: str,
    body: dict[str, Any], field: str, bad: str,
) -> None:
    marker = "\u2603"  # placed in the value so the answer can be searched for it
    # json.dumps would escape the backslash of the escape itself; it goes in afterwards.
    value = _with(body[field], marker)
    raw = json.dumps({**body, field: value}, ensure_ascii=False).replace(marker, bad)
    response = await _send(client, keys[role], method, path, raw)
    problem = _problem(response, 422, "invalid-request")
    assert problem["fields"] == [field]
    assert bad not in response.text and "\\u0000" not in response.text


@pytest.mark.parametrize("bad", UNSTORABLE.values(), ids=UNSTORABLE.keys())
@pytest.mark.parametrize(("role", "method", "path", "body", "fields"), JSON_INPUTS,
                         ids=[f"{m} {_label(p)}" for _, m, p, _, _ in JSON_INPUTS])
async def test_unstorable_field_name_is_a_problem_that_does_not_repeat_it(
    client: httpx.AsyncClient, keys: dict[str, str], role: str, method: str, path: str,
    body: dict[str, Any], fields: tuple[str, ...], bad: str,
) -> None:
    raw = json.dumps(body)[:-1] + f', "x{bad}": 1}}'
    response = await _send(client, keys[role], method, path, raw)
    problem = _problem(response, 422, "invalid-request")
    assert "fields" not in problem


@pytest.mark.parametrize(("role", "method", "path", "body", "fields"), JSON_INPUTS,
                         ids=[f"{m} {_label(p)}" for _, m, p, _, _ in JSON_INPUTS])
async def test_json_nested_too_deeply_is_a_400(
    client: httpx.AsyncClient, keys: dict[str, str], role: str, method: str, path: str,
    body: dict[str, Any], fields: tuple[str, ...],
) -> None:
    # One level over the cap, inside the first field: the body is otherwise valid.
    nested = json.dumps({**body, fields[0]: None}).replace(
        "null", "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, 1)
    response = await _send(client, keys[role], method, path, nested)
    _problem(response, 400, "json-too-deep")
    within = json.dumps({**body, fields[0]: None}).replace(
        "null", "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1), 1)
    response = await _send(client, keys[role], method, path, within)
    assert response.status_code == 422, "a body within the cap reaches the field checks"


async def test_json_deeper_than_the_parser_can_go_is_a_400_not_a_recursion_error(
    client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    # Past the interpreter's recursion limit (1000), inside the campaign body's 256 KiB.
    raw = '{"name": ' + "[" * 50_000 + "]" * 50_000 + "}"
    response = await _send(client, keys["marketer"], "POST", "/v1/campaigns", raw)
    _problem(response, 400, "json-too-deep")


@pytest.mark.parametrize(("path", "field"), [
    ("/p/" + "A" * 43, "answer"),
    ("/u/" + "A" * 43, "List-Unsubscribe"),
])
async def test_nul_in_a_form_field_is_a_problem_naming_it(
    client: httpx.AsyncClient, path: str, field: str,
) -> None:
    response = await client.post(path, content=f"{field}=a%00b".encode(), headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    problem = _problem(response, 422, "invalid-request")
    assert problem["fields"] == [field]


@pytest.mark.parametrize(("query", "field"), [
    ("to=0001-01-01", "to"),  # the attack run's 500: 29 days before it overflowed
    ("from=0001-01-01", "from"),
    ("to=9999-12-31", "to"),
    (f"to={EARLIEST_DATE.replace(year=EARLIEST_DATE.year - 1)}", "to"),
    (f"from={LATEST_DATE.replace(year=LATEST_DATE.year + 1)}", "from"),
    ("to=20240101", "to"),
    ("to=2024-W01-1", "to"),
    ("to=2024-02-30", "to"),
    ("to=%00", "to"),
    ("from=", "from"),
])
async def test_a_date_out_of_range_is_a_problem_naming_it(
    client: httpx.AsyncClient, keys: dict[str, str], query: str, field: str,
) -> None:
    response = await client.get(f"/v1/metrics?{query}", headers=auth(keys["admin"]))
    problem = _problem(response, 422, "invalid-request")
    assert problem["fields"] == [field]


@pytest.mark.parametrize("query", [
    f"from={EARLIEST_DATE}&to={EARLIEST_DATE}", f"from={LATEST_DATE}&to={LATEST_DATE}",
])
async def test_the_ends_of_the_date_range_are_taken(
    client: httpx.AsyncClient, keys: dict[str, str], query: str,
) -> None:
    response = await client.get(f"/v1/metrics?{query}", headers=auth(keys["admin"]))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("field", ["to", "purpose", "subject", "content"])
async def test_null_for_a_required_message_field_is_a_problem_naming_it(
    client: httpx.AsyncClient, keys: dict[str, str], field: str,
) -> None:
    # `content: null` was a 500 in the contract run (a None has no .strip()).
    response = await client.post("/v1/messages", json={**REMINDER, field: None},
                                 headers=auth(keys["sender"]))
    problem = _problem(response, 422, "invalid-request")
    assert problem["fields"] == [field]
