"""``/v1/campaigns``: create, upload an audience, send, pause, resume, cancel, progress.

Minimum necessary: nothing here returns a recipient, an address or a list of them; marketers see
counts for their own campaigns only.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.access import require
from service.campaigns import actions
from service.campaigns.input import parse_campaign, selected_tag
from service.campaigns.ownership import own_campaign
from service.core import paths
from service.core.bodies import read_json_object, stream_capped
from service.core.pagination import page, page_request
from service.core.problems import Problem, invalid, require_marketing
from service.db.queries import QUERIES
from service.db.resources import Resources
from service.subjects import SubjectGate

_BODY_LIMIT = 256 * 1024
# What migration 0004's CHECK allows; tests/test_listing.py keeps it, the table and openapi.yaml
# the same.
STATUSES = ("draft", "staging", "sending", "paused", "cancelled", "done")


async def create_campaign(request: Request) -> Response:
    res: Resources = request.app.state.resources
    key = await require(request, "marketer")
    require_marketing(res.settings.marketing_enabled)
    new = parse_campaign(await read_json_object(request, _BODY_LIMIT),
                         res.settings.content_max_bytes)
    campaign_id = await actions.create(res, key, SubjectGate.of(request), new)
    return JSONResponse({"id": str(campaign_id), "status": "draft"}, 201,
                        headers={"Location": paths.CAMPAIGN.format(campaign_id=campaign_id)})


async def upload_audience(request: Request) -> Response:
    res, key, campaign = await own_campaign(request, "marketer")
    if campaign["status"] != "draft":
        raise Problem(409, "campaign-not-draft", "The audience can change only before sending")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    tag = None
    csv_body = None
    if media_type == "application/json":
        tag = selected_tag(await read_json_object(request, 1024))
    elif media_type == "text/csv":
        # An oversized Content-Length is refused here, before a connection is taken.
        csv_body = stream_capped(request, res.settings.audience_max_bytes)
    else:
        raise Problem(415, "unsupported-media-type",
                      "Send the audience as text/csv, or select it as application/json")
    report = await actions.stage_audience(res, key, campaign, csv_body, tag)
    return JSONResponse(asdict(report))


async def send_campaign(request: Request) -> Response:
    res, key, campaign = await own_campaign(request, "marketer")
    await actions.start(res, key, campaign)
    return JSONResponse({"id": str(campaign["id"]), "status": "staging"}, 202)


async def _move(request: Request, transition: actions.Transition) -> Response:
    # The campaign's own marketer, or an admin of its organization (an operator stopping a
    # campaign that goes wrong): visible_campaign lets nobody else find it.
    res, key, campaign = await own_campaign(request, "marketer", "admin")
    status = await transition.apply(res, key, campaign)
    return JSONResponse({"id": str(campaign["id"]), "status": status})


async def pause_campaign(request: Request) -> Response:
    return await _move(request, actions.PAUSE)


async def resume_campaign(request: Request) -> Response:
    return await _move(request, actions.RESUME)


async def cancel_campaign(request: Request) -> Response:
    return await _move(request, actions.CANCEL)


async def get_campaign(request: Request) -> Response:
    res, _, campaign = await own_campaign(request, "marketer", "admin")
    numbers = await actions.progress_of(res, campaign)
    return JSONResponse({
        "id": str(campaign["id"]),
        "name": campaign["name"],
        "subject": campaign["subject"],
        "status": campaign["status"],
        "tracking": campaign["tracking"],
        "rate_per_second": campaign["rate_per_second"],
        "scheduled_at": campaign["scheduled_at"].isoformat() if campaign["scheduled_at"] else None,
        "progress": asdict(numbers),
    })


async def list_campaigns(request: Request) -> Response:
    """Newest first, a page at a time; what each is, never whom it goes to."""
    res: Resources = request.app.state.resources
    key = await require(request, "marketer", "admin")
    status = request.query_params.get("status")
    if status is not None and status not in STATUSES:
        raise invalid(f"`status` must be one of {', '.join(STATUSES)}", fields=["status"])
    wanted = page_request(request, (dt.datetime.fromisoformat, uuid.UUID))
    after = wanted.after or (None, None)
    rows = await res.db.fetch(
        QUERIES.campaigns_page, key.organization_id, None if key.role == "admin" else key.id,
        status, *after, wanted.limit + 1)
    return JSONResponse(page(rows, wanted, lambda row: (row["created_at"], row["id"]), _listed))


def _listed(row: Any) -> dict[str, Any]:
    def when(name: str) -> str | None:
        return row[name].isoformat() if row[name] is not None else None

    return {"id": str(row["id"]), "name": row["name"], "status": row["status"],
            "created_at": when("created_at"), "started_at": when("started_at"),
            "scheduled_at": when("scheduled_at")}
