"""No bearer token reaches the logs. The routes that carry one are found in the app's own route
table, so a token route added later is covered without anyone remembering to add it here."""

from __future__ import annotations

import logging
import re
import secrets

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from service.core.config import Settings
from service.core.logs import JsonFormatter
from service.devtools.relay import Mailbox
from tests.conftest import run_worker
from tests.helpers import REMINDER, auth, mail_text, parse_mail, portal_token, send
from tests.test_consent_flow import NEWSLETTER, authorise_and_confirm

_PARAMETER = re.compile(r"\{(\w+)(?::\w+)?\}")
# Not the service's: the relay logs what it receives, and httpx is the test's browser.
_OTHERS = ("mail.log", "httpx", "httpcore")
_TOKEN_IN_URL = re.compile(r"https://portal\.clinic\.test/(?:p|u|c|t/o|t/c)/([A-Za-z0-9_-]+)")


def _service_logs(caplog: pytest.LogCaptureFixture) -> str:
    # As written: the whole JSON line, its fields (the access log's path) included.
    return "\n".join(JsonFormatter().format(r) for r in caplog.records
                     if not r.name.startswith(_OTHERS))


def _secret_routes(app: Starlette) -> list[tuple[str, str]]:
    """(path template, method) of every route with a parameter that is not an id."""
    found = []
    for route in app.routes:
        if isinstance(route, Route) and any(
            not name.endswith("_id") for name in _PARAMETER.findall(route.path)
        ):
            found += [(route.path, method) for method in sorted(route.methods or ()) if
                      method != "HEAD"]
    return found


async def test_every_token_route_keeps_its_token_out_of_the_log(
    client: httpx.AsyncClient, app: Starlette, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    routes = _secret_routes(app)
    assert {path for path, _ in routes} >= {
        "/p/{token}", "/u/{token}", "/c/{token}", "/t/o/{token}", "/t/c/{token}"}
    for template, method in routes:
        token = secrets.token_urlsafe(32)
        path = _PARAMETER.sub(token, template)
        response = await client.request(method, path)
        assert response.status_code < 500, (template, method)
        logs = _service_logs(caplog)
        assert token not in logs, (template, method)
        assert _PARAMETER.split(template)[0] + "<redacted>" in logs, (template, method)
        # A mistyped token, with more after it, is hidden as well.
        await client.get(path + "/extra")
        assert token not in _service_logs(caplog)


async def test_no_token_from_a_whole_flow_reaches_the_log(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Consent (the /c/ link), a marketing email (/u/), a reminder and its portal page (/p/)."""
    caplog.set_level(logging.DEBUG)
    await authorise_and_confirm(client, keys, settings, mailbox)
    assert (await send(client, keys["sender"], NEWSLETTER)).status_code == 202
    assert (await send(client, keys["sender"], REMINDER)).status_code == 202
    await run_worker(settings)
    newsletter = next(m for m in mailbox.messages if b"Our Spring Newsletter" in m[2])[2]
    unsubscribe = re.search(rb"<https://portal\.clinic\.test(/u/[A-Za-z0-9_-]{43})>", newsletter)
    assert unsubscribe is not None
    reminder = mailbox.messages[-1][2] if b"Spring" not in mailbox.messages[-1][2] else \
        mailbox.messages[-2][2]
    token = portal_token(reminder)
    assert (await client.get(f"/p/{token}")).status_code == 200
    assert (await client.post(f"/p/{token}")).status_code == 200
    assert (await client.post(unsubscribe.group(1).decode(),
                              data={"List-Unsubscribe": "One-Click"})).status_code == 200
    status = await client.get("/v1/metrics", headers=auth(keys["admin"]))
    assert status.status_code == 200

    # Bodies are base64: read them decoded, and the headers (List-Unsubscribe) as they are.
    tokens = {t for _, _, data in mailbox.messages
              for t in _TOKEN_IN_URL.findall(mail_text(parse_mail(data)) + data.decode())}
    tokens.add(token)
    tokens.add(unsubscribe.group(1).decode().removeprefix("/u/"))
    assert len(tokens) >= 3
    logs = _service_logs(caplog)
    for path in ("/c/<redacted>", "/u/<redacted>", "/p/<redacted>"):
        assert path in logs
    for seen in tokens:
        assert seen not in logs
