"""``/v1/webhooks``: an organization's admins register, list, rotate, enable and delete webhook
endpoints and read each one's delivery attempts. The signing secret is in the answer twice only,
when made and when rotated; it is stored sealed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.access import require
from service.core.bodies import read_json_object
from service.core.fields import only, path_id
from service.core.pagination import page, page_request
from service.core.problems import Problem, invalid
from service.db.queries import QUERIES
from service.db.resources import Resources
from service.webhooks import endpoints
from service.webhooks.events import EVENT_TYPES
from service.webhooks.policy import Refused, parse_url
from service.webhooks.signing import shown
from service.webhooks.transport import checked_address

_BODY_LIMIT = 4096


def _not_found() -> Problem:
    return Problem(404, "not-found", "Not found")


def _events(body: dict[str, Any]) -> list[str]:
    """The subscribed types in their canonical order, each once."""
    events = body["events"]
    if (not isinstance(events, list) or not events
            or not all(isinstance(e, str) and e in EVENT_TYPES for e in events)):
        raise invalid(f"`events` must list some of {', '.join(EVENT_TYPES)}", fields=["events"])
    return [e for e in EVENT_TYPES if e in events]


async def create_webhook(request: Request) -> Response:
    res: Resources = request.app.state.resources
    key = await require(request, "admin")
    body = await read_json_object(request, _BODY_LIMIT)
    only(body, ("url", "events"), ("url", "events"))
    events = _events(body)
    try:
        url = parse_url(body["url"], res.settings.production)
        # Checked now so a mistake shows at once; checked again at every delivery, as the name
        # may point elsewhere by then.
        await checked_address(url, res.settings.webhook_allow_private)
    except Refused as exc:
        raise Problem(422, "webhook-url-refused", "This URL cannot be a webhook endpoint",
                      f"The URL {exc}", fields=["url"]) from None
    row, secret = await endpoints.create(res.db, res.settings.keyring, key, str(url), events)
    return JSONResponse({**endpoints.render(row), "secret": shown(secret)}, 201)


async def list_webhooks(request: Request) -> Response:
    res: Resources = request.app.state.resources
    key = await require(request, "admin")
    wanted = page_request(request, (dt.datetime.fromisoformat, uuid.UUID))
    after = wanted.after or (None, None)
    rows = await res.db.fetch(QUERIES.webhook_endpoints_page, key.organization_id,
                              wanted.limit + 1, *after)
    return JSONResponse(page(rows, wanted, lambda r: (r["created_at"].isoformat(), r["id"]),
                             endpoints.render))


async def get_webhook(request: Request) -> Response:
    res: Resources = request.app.state.resources
    key = await require(request, "admin")
    row = await res.db.fetchrow(QUERIES.webhook_endpoint, path_id(request, "webhook_id"),
                                key.organization_id)
    if row is None:
        raise _not_found()
    return JSONResponse(endpoints.render(row))


async def delete_webhook(request: Request) -> Response:
    res: Resources = request.app.state.resources
    key = await require(request, "admin")
    if not await endpoints.delete(res.db, key, path_id(request, "webhook_id")):
        raise _not_found()
    return Response(status_code=204)


async def rotate_webhook_secret(request: Request) -> Response:
    res: Resources = request.app.state.resources
    key = await require(request, "admin")
    rotated = await endpoints.rotate(res.db, res.settings.keyring, key,
                                     path_id(request, "webhook_id"))
    if rotated is None:
        raise _not_found()
    row, secret = rotated
    return JSONResponse({**endpoints.render(row), "secret": shown(secret),
                         "previous_secret_expires_at": row["previous_secret_until"].isoformat()})


async def enable_webhook(request: Request) -> Response:
    res: Resources = request.app.state.resources
    key = await require(request, "admin")
    row = await endpoints.enable(res.db, key, path_id(request, "webhook_id"))
    if row is None:
        raise _not_found()
    return JSONResponse(endpoints.render(row))


async def list_webhook_attempts(request: Request) -> Response:
    res: Resources = request.app.state.resources
    key = await require(request, "admin")
    webhook_id = path_id(request, "webhook_id")
    wanted = page_request(request, (dt.datetime.fromisoformat, int))
    # An unknown endpoint is a 404, not an empty list: its existence is what is asked.
    if await res.db.fetchval(QUERIES.webhook_endpoint, webhook_id, key.organization_id) is None:
        raise _not_found()
    after = wanted.after or (None, None)
    rows = await res.db.fetch(QUERIES.webhook_attempts_page, webhook_id, key.organization_id,
                              wanted.limit + 1, *after)
    return JSONResponse(page(rows, wanted, lambda r: (r["at"].isoformat(), r["id"]), _attempt))


def _attempt(row: Any) -> dict[str, Any]:
    return {
        "event_id": str(row["event_id"]), "type": row["type"], "at": row["at"].isoformat(),
        "http_status": row["http_status"], "error_class": row["error_class"],
        "duration_ms": row["duration_ms"],
    }
