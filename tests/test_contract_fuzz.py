"""Schemathesis attacks the running app from openapi.yaml, as each role: no answer may be a 5xx,
and every answer must be one the contract documents (status, content type, schema, headers, and
a 405 that names the path's methods).

The app is the real one, on the test PostgreSQL and Redis, served by uvicorn on a loopback port
in the test's event loop (the database pool belongs to that loop); schemathesis runs in a thread
beside it. The seed is fixed and generation deterministic, so a run finds the same cases on every
machine; the budget keeps the three roles within about two minutes on two cores.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest
import schemathesis
import uvicorn
import yaml
from schemathesis.engine import events, from_schema
from starlette.applications import Starlette

from service.core.config import Settings
from service.shipped import openapi_document

SEED = 20240516
# Bounds each phase; the engine's max-time is not used, as with it the fuzzing and stateful
# phases keep cycling until it runs out.
MAX_EXAMPLES = 60
CHECKS = (
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_schema_conformance", "response_headers_conformance", "unsupported_method",
    "allow_header_conformance",
)


def _config(base_url: str, key: str) -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "seed": SEED,
        "base-url": base_url,
        "headers": {"Authorization": f"Bearer {key}"},
        "request-timeout": 30,
        "suppress-health-check": ["all"],
        "generation": {
            "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none",
            "no-shrink": True,
        },
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
    })


def _attack(base_url: str, key: str) -> tuple[list[str], int]:
    """What schemathesis found (operation, check, status, and a curl line to reproduce it),
    and how many requests it sent."""
    schema = schemathesis.openapi.from_dict(yaml.safe_load(openapi_document()),
                                            config=_config(base_url, key))
    failures: set[str] = set()
    requests = 0
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            requests += len(recorder.interactions)
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if (info := check.failure_info) is None:
                        continue
                    interaction = recorder.interactions.get(case_id)
                    response = interaction.response if interaction else None
                    status = response.status_code if response is not None else "no response"
                    failures.add(f"{recorder.label}: {check.name} ({status}): "
                                 f"{info.failure.title}\n{info.failure.message[:500]}\n"
                                 f"{info.code_sample}")
        elif isinstance(event, events.NonFatalError | events.FatalError):
            failures.add(f"schemathesis error: {event}")
        elif isinstance(event, events.EngineFinished) and event.stop_reason != "completed":
            # Cut short, the run would pass on what it did not try.
            failures.add(f"schemathesis stopped early: {event.stop_reason}")
    return sorted(failures), requests


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Schemathesis asks faster than the default limits allow (about 100 requests a second from
    # one key); 429s would stand in for the answers it came to check.
    return replace(settings, rate_limit_sender=None, rate_limit_marketer=None,
                   rate_limit_admin=None)


@pytest.mark.parametrize("role", ["sender", "marketer", "admin"])
async def test_no_input_breaks_the_contract(
    app: Starlette, keys: dict[str, str], role: str,
) -> None:
    server = uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="off", log_level="warning", access_log=False,
    ))
    serving = asyncio.create_task(server.serve())
    # uvicorn offers no event to await. (A socket bound here and handed to serve() would save
    # the wait, but answers six times slower.)
    while not server.started:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    started = time.monotonic()
    try:
        failures, requests = await asyncio.to_thread(
            _attack, f"http://127.0.0.1:{port}", keys[role])
    finally:
        server.should_exit = True
        await serving
    print(f"{role}: {requests} requests in {time.monotonic() - started:.1f} s")
    assert not failures, "\n".join(failures)
