"""``/v1/campaigns``: create, upload an audience, send, pause, resume, cancel, progress.

Minimum necessary: nothing here returns a recipient, an address or a list of them; marketers see
counts for their own campaigns only.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service import audit
from service.api.consent_input import parse_tags, text_field
from service.audience import MAX_ROWS, TooManyRows, stage_authorized, stage_csv
from service.auth import ApiKey, require
from service.bodies import read_json_object
from service.fanout import create_lanes
from service.jobs import enqueue_fan_out
from service.policy.pacing import progress
from service.problems import Problem, invalid
from service.queries import QUERIES
from service.resources import Resources
from service.subject_gate import enforce_subject

_BODY_LIMIT = 256 * 1024
_FIELDS = {"name", "subject", "content", "teaser", "links", "tracking", "rate_per_second",
           "scheduled_at"}


def _actor(key: ApiKey) -> str:
    return f"api-key:{key.id}"


def _links(body: dict[str, Any]) -> list[str]:
    links = body.get("links", [])
    if not isinstance(links, list) or len(links) > 50 or not all(
        isinstance(u, str) and len(u) <= 2000 and u.isprintable() and " " not in u
        and urlsplit(u).scheme == "https" and urlsplit(u).netloc for u in links
    ):
        raise invalid("`links` must be a list of at most 50 https URLs", fields=["links"])
    return links


async def create_campaign(request: Request) -> Response:
    res: Resources = request.app.state.resources
    key = await require(request, "marketer")
    body = await read_json_object(request, _BODY_LIMIT)
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise invalid("Unknown fields in the body", fields=unknown)
    name = text_field(body, "name", 200)
    subject = str(text_field(body, "subject", 200))
    content = text_field(body, "content", res.settings.content_max_bytes, optional=True)
    teaser = text_field(body, "teaser", 200, optional=True)
    if content is None and teaser is None:
        raise invalid("A campaign needs `content` (shown in the portal) or a `teaser`",
                      fields=["content", "teaser"])
    gate = (res.db, res.approved_subjects, res.subjects, res.settings.subject_mode)
    await enforce_subject(*gate, subject)
    if teaser is not None:
        # The teaser is shown in the email itself: it must be as generic as a subject.
        await enforce_subject(*gate, teaser)
    tracking = body.get("tracking", False)
    rate = body.get("rate_per_second", 50)
    if not isinstance(tracking, bool):
        raise invalid("`tracking` must be true or false", fields=["tracking"])
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0.1 <= rate <= 10000:
        raise invalid("`rate_per_second` must be between 0.1 and 10000",
                      fields=["rate_per_second"])
    scheduled_at = None
    if body.get("scheduled_at") is not None:
        try:
            scheduled_at = dt.datetime.fromisoformat(body["scheduled_at"])
        except (TypeError, ValueError):
            raise invalid("`scheduled_at` must be an ISO 8601 date-time",
                          fields=["scheduled_at"]) from None
        if scheduled_at.tzinfo is None:
            raise invalid("`scheduled_at` needs a time zone offset", fields=["scheduled_at"])
    campaign_id = uuid.uuid4()
    sealed = None
    if content is not None:
        sealed = res.settings.keyring.seal(content.encode(), campaign_id.bytes + b"content")
    async with res.db.acquire() as conn, conn.transaction():
        await conn.execute(
            QUERIES.insert_campaign, campaign_id, key.id, name, subject, teaser, sealed,
            _links(body), tracking, float(rate), scheduled_at,
            res.settings.keyring.seal(secrets.token_bytes(32), campaign_id.bytes + b"link-key"),
        )
        await audit.record(conn, actor=_actor(key), action="campaign.create",
                           object_type="campaign", object_id=str(campaign_id), outcome="draft")
    return JSONResponse({"id": str(campaign_id), "status": "draft"}, 201,
                        headers={"Location": f"/v1/campaigns/{campaign_id}"})


async def own_campaign(request: Request, *roles: str) -> tuple[Resources, ApiKey, Any]:
    res: Resources = request.app.state.resources
    key = await require(request, *roles)  # type: ignore[arg-type]
    try:
        campaign_id = uuid.UUID(request.path_params["campaign_id"])
    except ValueError:
        raise Problem(404, "not-found", "Not found") from None
    campaign = await res.db.fetchrow(QUERIES.campaign, campaign_id)
    if campaign is None or (key.role != "admin" and campaign["api_key_id"] != key.id):
        raise Problem(404, "not-found", "Not found")
    return res, key, campaign


def _selected_tag(selection: dict[str, Any]) -> str | None:
    """``{"select": "authorized"}``, or ``{"select": "tag", "tag": "spring-fair"}``: contacts
    with an active marketing authorization, all of them or those with the tag."""
    if selection == {"select": "authorized"}:
        return None
    if selection.get("select") == "tag" and set(selection) == {"select", "tag"}:
        return parse_tags({"tag": [selection["tag"]]}, "tag")[0]
    raise invalid('Select {"select": "authorized"} or {"select": "tag", "tag": "..."}',
                  fields=["select"])


async def upload_audience(request: Request) -> Response:
    res, key, campaign = await own_campaign(request, "marketer")
    if campaign["status"] != "draft":
        raise Problem(409, "campaign-not-draft", "The audience can change only before sending")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    tag = None
    if media_type == "application/json":
        tag = _selected_tag(await read_json_object(request, 1024))
    elif media_type != "text/csv":
        raise Problem(415, "unsupported-media-type",
                      "Send the audience as text/csv, or select it as application/json")
    try:
        async with res.db.acquire() as conn, conn.transaction():
            if media_type == "text/csv":
                report = await stage_csv(
                    conn, res.settings.keyring, campaign["id"], request.stream()
                )
            else:
                report = await stage_authorized(
                    conn, res.settings.keyring, campaign["id"], tag
                )
            await audit.record(
                conn, actor=_actor(key), action="campaign.audience", object_type="campaign",
                object_id=str(campaign["id"]), outcome="staged",
                detail=f"rows={report.rows} accepted={report.accepted}",
            )
    except TooManyRows:
        raise Problem(413, "audience-too-large", "The audience is too large",
                      f"An upload may have at most {MAX_ROWS} rows") from None
    return JSONResponse(asdict(report))


async def send_campaign(request: Request) -> Response:
    res, key, campaign = await own_campaign(request, "marketer")
    async with res.db.acquire() as conn, conn.transaction():
        started = await conn.fetchval(QUERIES.start_campaign, campaign["id"])
        if started is None:
            raise Problem(409, "campaign-not-draft", "This campaign was already started")
        await create_lanes(conn, campaign["id"], res.settings.fanout_lanes)
        await audit.record(conn, actor=_actor(key), action="campaign.send",
                           object_type="campaign", object_id=str(campaign["id"]),
                           outcome="staging")
    await _enqueue_lanes(res, campaign["id"], range(res.settings.fanout_lanes))
    return JSONResponse({"id": str(campaign["id"]), "status": "staging"}, 202)


async def _enqueue_lanes(res: Resources, campaign_id: uuid.UUID, lanes: Iterable[int]) -> None:
    for lane in lanes:
        await enqueue_fan_out(res.redis, res.settings.queue_name, str(campaign_id), lane)


async def pause_campaign(request: Request) -> Response:
    res, key, campaign = await own_campaign(request, "marketer")
    async with res.db.acquire() as conn, conn.transaction():
        paused = await conn.fetchval(QUERIES.pause_campaign, campaign["id"])
        if paused is None:
            raise Problem(409, "campaign-not-running", "Only a running campaign can be paused")
        await conn.execute(QUERIES.pause_campaign_messages, campaign["id"])
        await audit.record(conn, actor=_actor(key), action="campaign.pause",
                           object_type="campaign", object_id=str(campaign["id"]),
                           outcome="paused")
    return JSONResponse({"id": str(campaign["id"]), "status": "paused"})


async def resume_campaign(request: Request) -> Response:
    res, key, campaign = await own_campaign(request, "marketer")
    async with res.db.acquire() as conn, conn.transaction():
        resumed_to = await conn.fetchval(QUERIES.resume_campaign, campaign["id"])
        if resumed_to is None:
            raise Problem(409, "campaign-not-paused", "Only a paused campaign can be resumed")
        await conn.execute(QUERIES.resume_campaign_messages, campaign["id"],
                           campaign["rate_per_second"])
        await audit.record(conn, actor=_actor(key), action="campaign.resume",
                           object_type="campaign", object_id=str(campaign["id"]),
                           outcome=str(resumed_to))
    if resumed_to == "staging":
        lanes = [row["lane"] for row in await res.db.fetch(QUERIES.fanout_lanes, campaign["id"])]
        await _enqueue_lanes(res, campaign["id"], lanes)
    await res.nudger.nudge()
    return JSONResponse({"id": str(campaign["id"]), "status": resumed_to})


async def cancel_campaign(request: Request) -> Response:
    res, key, campaign = await own_campaign(request, "marketer")
    async with res.db.acquire() as conn, conn.transaction():
        cancelled = await conn.fetchval(
            QUERIES.set_campaign_status, campaign["id"],
            ["draft", "staging", "sending", "paused"], "cancelled",
        )
        if cancelled is None:
            raise Problem(409, "campaign-finished", "This campaign has already ended")
        await conn.execute(QUERIES.cancel_campaign_messages, campaign["id"])
        await audit.record(conn, actor=_actor(key), action="campaign.cancel",
                           object_type="campaign", object_id=str(campaign["id"]),
                           outcome="cancelled")
    return JSONResponse({"id": str(campaign["id"]), "status": "cancelled"})


async def get_campaign(request: Request) -> Response:
    res, _, campaign = await own_campaign(request, "marketer", "admin")
    campaign_id = campaign["id"]
    staged = await res.db.fetchval(QUERIES.audience_size, campaign_id)
    by_status = {r["status"]: r["n"] for r in
                 await res.db.fetch(QUERIES.campaign_progress, campaign_id)}
    recent = await res.db.fetchval(QUERIES.campaign_recent_sends, campaign_id)
    excluded = json.loads(await res.db.fetchval(QUERIES.campaign_excluded, campaign_id))
    numbers = progress(staged, excluded, by_status, recent, campaign["rate_per_second"],
                       active=campaign["status"] in ("staging", "sending"))
    return JSONResponse({
        "id": str(campaign_id),
        "name": campaign["name"],
        "subject": campaign["subject"],
        "status": campaign["status"],
        "tracking": campaign["tracking"],
        "rate_per_second": campaign["rate_per_second"],
        "scheduled_at": campaign["scheduled_at"].isoformat() if campaign["scheduled_at"] else None,
        "progress": asdict(numbers),
    })
