"""openapi.yaml is valid, served, lists exactly the routes the app has, and documents the answers
and the limits the code has."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, get_args

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from service.campaigns.input import LINE_MAX, LINK_MAX, MAX_LINKS, parse_campaign
from service.consent import PURPOSES
from service.consent.input import MAX_TAGS, TAG_MAX
from service.core.addresses import AddressError, normalise_address
from service.core.bodies import MAX_JSON_DEPTH
from service.core.config import SubjectMode
from service.core.fields import EARLIEST_DATE, LATEST_DATE, TEXT_MAX
from service.core.problems import Problem
from service.messages.input import MAX_VERIFICATION_CHARS
from service.portal import STATIC_DIR
from service.shipped import openapi_document
from service.subjects.policy import CATEGORIES, MAX_SUBJECT_CHARS
from service.subjects.practice_names import MAX_NAME_CHARS
from service.subjects.rules import NOT_APPROVED


def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(openapi_document())
    return loaded


def app_operations(app: Starlette) -> set[tuple[str, str]]:
    operations = set()
    for route in app.routes:
        if isinstance(route, Route):
            for method in route.methods or ():
                if method != "HEAD":
                    operations.add((route.path, method.lower()))
        elif isinstance(route, Mount):
            operations |= {(f"{route.path}/{css.name}", "get") for css in STATIC_DIR.glob("*")}
    return operations


def test_spec_is_valid_openapi() -> None:
    validate(spec())


async def test_spec_matches_the_routes(app: Starlette) -> None:
    documented = {
        (path, method) for path, item in spec()["paths"].items()
        for method in item if method in ("get", "post", "put", "patch", "delete")
    }
    assert documented == app_operations(app)


async def test_spec_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.yaml")
    assert response.status_code == 200
    assert yaml.safe_load(response.text)["openapi"].startswith("3.")


def test_every_purpose_enum_is_the_services_purpose_list() -> None:
    # The list is defined once, in consent/policy.py; the contract must not drift from it.
    enums: list[list[str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name, value in node.items():
                if name == "purpose" and isinstance(value, dict) and "enum" in value:
                    enums.append(value["enum"])
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(spec())
    assert len(enums) >= 3
    assert all(tuple(enum) == PURPOSES for enum in enums)


def test_the_subject_categories_and_modes_are_the_codes() -> None:
    # One list each: policy.py's categories (with rules.py's not_approved), config's modes.
    problem = spec()["components"]["schemas"]["Problem"]["properties"]
    assert problem["category"]["enum"] == [*CATEGORIES, NOT_APPROVED.category]
    assert set(problem["span"]["required"]) == {"start", "end"}
    subjects = spec()["paths"]["/v1/admin/subjects"]["get"]["responses"]["200"]
    mode = subjects["content"]["application/json"]["schema"]["allOf"][1]["properties"]["mode"]
    assert tuple(mode["enum"]) == get_args(SubjectMode)


def test_every_operation_that_reads_the_database_documents_its_outage_answer() -> None:
    # The Edge middleware answers any of these with 503 + Retry-After while PostgreSQL is out
    # of reach.
    without_database = {"/healthz", "/openapi.yaml"}
    missing = [
        (path, method) for path, item in spec()["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
        and path not in without_database and not path.startswith("/static")
        and "503" not in operation["responses"]
    ]
    assert missing == []
    unavailable = spec()["components"]["responses"]["ServiceUnavailable"]
    assert "Retry-After" in unavailable["headers"]


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation) for path, item in spec()["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


# Handlers that read a form the spec gives no schema for (they take any fields).
_FORM_READERS = {("/c/{token}", "post")}


def test_every_operation_with_a_body_documents_the_answers_of_the_body_readers() -> None:
    # core/bodies.py: unreadable (400), over the cap (413), unstorable or invalid field (422);
    # and a JSON reader refuses any other media type (415).
    missing = []
    for path, method, operation in _operations():
        media = set(operation.get("requestBody", {}).get("content", {}))
        expected = set()
        if media & {"application/json", "text/csv"}:
            expected = {"400", "413", "415", "422"}
        elif "application/x-www-form-urlencoded" in media or (path, method) in _FORM_READERS:
            expected = {"400", "413", "422"}
        missing += [(path, method, status) for status in sorted(expected)
                    if status not in operation["responses"]]
    assert missing == []


def _schema(*names: str) -> Any:
    node: Any = spec()["components"]["schemas"]
    for name in names:
        node = node[name]
    return node


def _body_schema(path: str, method: str = "post") -> Any:
    content = spec()["paths"][path][method]["requestBody"]["content"]
    return content["application/json"]["schema"]


def test_the_documented_limits_are_the_codes() -> None:
    campaign = _body_schema("/v1/campaigns")["properties"]
    subject = _body_schema("/v1/admin/subjects")["properties"]["subject"]
    practice = _body_schema("/v1/admin/practice-names")["properties"]["name"]
    audience = _body_schema("/v1/campaigns/{campaign_id}/audience")["properties"]
    documented = {
        "message subject": _schema("NewMessage", "properties", "subject", "maxLength"),
        "verification": _schema("NewMessage", "properties", "verification", "maxLength"),
        "text": _schema("Text", "maxLength"),
        "tags": _schema("Tags", "maxItems"),
        "tag": _schema("Tags", "items", "maxLength"),
        "campaign name": campaign["name"]["maxLength"],
        "campaign subject": campaign["subject"]["maxLength"],
        "teaser": campaign["teaser"]["maxLength"],
        "links": campaign["links"]["maxItems"],
        "link": campaign["links"]["items"]["maxLength"],
        "rate": (campaign["rate_per_second"]["minimum"], campaign["rate_per_second"]["maximum"]),
        "approved subject": subject["maxLength"],
        "practice name": practice["maxLength"],
        "audience tag": audience["tag"]["maxLength"],
    }
    assert documented == {
        "message subject": MAX_SUBJECT_CHARS, "verification": MAX_VERIFICATION_CHARS,
        "text": TEXT_MAX, "tags": MAX_TAGS, "tag": TAG_MAX, "campaign name": LINE_MAX,
        "campaign subject": LINE_MAX, "teaser": LINE_MAX, "links": MAX_LINKS, "link": LINK_MAX,
        "rate": (0.1, 10000), "approved subject": MAX_SUBJECT_CHARS, "audience tag": TAG_MAX,
        "practice name": MAX_NAME_CHARS,
    }
    assert _parse_rate(0.1) and _parse_rate(10000)
    assert not _parse_rate(0.09) and not _parse_rate(10000.1)
    assert f"{MAX_JSON_DEPTH} deep" in spec()["components"]["responses"]["BadRequest"][
        "description"].replace("\n", " ")


def _parse_rate(rate: float) -> bool:
    try:
        parse_campaign({"name": "n", "subject": "s", "teaser": "t", "rate_per_second": rate},
                       1000)
    except Problem:
        return False
    return True


_EMAIL: dict[str, Any] = spec()["components"]["schemas"]["Email"]


@settings(max_examples=200, derandomize=True, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(st.from_regex(_EMAIL["pattern"].removesuffix("$"), fullmatch=True)
       .filter(lambda address: len(address) <= _EMAIL["maxLength"]))
def test_every_address_the_email_pattern_allows_the_service_takes(address: str) -> None:
    normalise_address(address)  # raises AddressError if the contract is looser than the code


def test_the_email_pattern_takes_the_common_shapes_and_the_length_limit_is_the_codes() -> None:
    email = _schema("Email")
    for address in ("pat@example.org", "pat.jones+clinic@mail.example.co.uk", "a_b-c@x1.io"):
        assert re.search(email["pattern"], address)
        normalise_address(address)
    for refused in ("pat@[127.0.0.1]", '"pat"@example.org', "pat@example.123", "pat..j@x.org",
                    "pat@-x.org", "pat@x"):
        assert not re.search(email["pattern"], refused)
    domain = ".".join(["b" * 63] * 3) + "."
    longest = "a@" + domain + "c" * (email["maxLength"] - len(domain) - 2)
    assert len(longest) == email["maxLength"]
    normalise_address(longest)
    with pytest.raises(AddressError):
        normalise_address(longest + "c")


def test_the_report_date_range_is_the_codes() -> None:
    date = _schema("ReportDate")
    assert str(EARLIEST_DATE) in date["description"] and str(LATEST_DATE) in date["description"]
    for day in (EARLIEST_DATE, LATEST_DATE):
        assert re.search(date["pattern"], day.isoformat())
    for day in (EARLIEST_DATE - dt.timedelta(1), LATEST_DATE + dt.timedelta(1)):
        assert not re.search(date["pattern"], day.isoformat())


async def test_a_method_a_path_lacks_is_a_405_naming_every_method_it_has(
    app: Starlette, client: httpx.AsyncClient,
) -> None:
    # Derived from the route table, as the router answers; and it is what the spec lists.
    methods: dict[str, set[str]] = {}
    for path, method in app_operations(app):
        methods.setdefault(path, set()).add(method.upper())
    documented = spec()["paths"]
    for path, allowed in methods.items():
        if path.startswith("/static"):
            continue
        assert allowed == {m.upper() for m in documented[path] if m != "parameters"}
        concrete = re.sub(r"\{\w+\}", "0" * 43, path)
        for probe in ("OPTIONS", "PATCH"):
            response = await client.request(probe, concrete)
            assert response.status_code == 405, (probe, path)
            listed = set(response.headers["allow"].split(", "))
            expected = allowed | ({"HEAD"} if "GET" in allowed else set())
            assert listed == expected, (probe, path)


def test_every_operation_has_a_unique_camel_case_id_and_one_declared_tag() -> None:
    """What makes a generated client read ``messages.send_message`` rather than a path."""
    declared = {tag["name"] for tag in spec()["tags"]}
    ids = [op.get("operationId") for _, _, op in _operations()]
    assert all(isinstance(i, str) and re.fullmatch(r"[a-z][a-zA-Z]+", i) for i in ids), ids
    assert len(ids) == len(set(ids))
    for path, method, op in _operations():
        assert len(op.get("tags", [])) == 1 and op["tags"][0] in declared, (path, method)
    assert declared == {op["tags"][0] for _, _, op in _operations()}
