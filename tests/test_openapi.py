"""openapi.yaml is valid, served, and lists exactly the routes the app has."""

from __future__ import annotations

from typing import Any

import httpx
import yaml
from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from service.consent import PURPOSES
from service.portal import STATIC_DIR
from service.shipped import openapi_document


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


def test_every_operation_that_reads_the_database_documents_its_outage_answer() -> None:
    # CatchAll answers any of these with 503 + Retry-After while PostgreSQL is out of reach.
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
