"""``/v1/campaigns``: create, upload an audience, send, pause, resume, cancel, progress.

Minimum necessary: nothing here returns a recipient, an address or a list of them; marketers see
counts for their own campaigns only.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service import audit
from service.access import require
from service.campaigns.audience import (
    MAX_LINE_BYTES,
    MAX_ROWS,
    TooManyRows,
    stage_authorized,
    stage_csv,
)
from service.campaigns.fanout import create_lanes
from service.campaigns.input import parse_campaign, selected_tag
from service.campaigns.lines import LineTooLong
from service.campaigns.ownership import own_campaign
from service.campaigns.pacing import progress
from service.core import paths
from service.core.bodies import read_json_object, stream_capped
from service.core.pagination import page, page_request
from service.core.problems import Problem, invalid, require_marketing
from service.db.queries import QUERIES
from service.db.queue import REDIS_UNREACHABLE, enqueue_fan_out
from service.db.resources import Resources
from service.subjects import SubjectGate

log = logging.getLogger(__name__)

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
    gate = SubjectGate.of(request)
    await gate.enforce(res.db, res.settings.subject_mode, new.subject, key.organization_id)
    if new.teaser is not None:
        # The teaser is shown in the email itself: it must be as generic as a subject.
        await gate.enforce(res.db, res.settings.subject_mode, new.teaser, key.organization_id)
    campaign_id = uuid.uuid4()
    keyring = res.settings.keyring
    sealed = None
    if new.content is not None:
        sealed = keyring.seal(new.content.encode(), campaign_id.bytes + b"content")
    async with res.db.acquire() as conn, conn.transaction():
        await conn.execute(
            QUERIES.insert_campaign, campaign_id, key.id, new.name, new.subject, new.teaser,
            sealed, new.links, new.tracking, new.rate_per_second, new.scheduled_at,
            keyring.seal(secrets.token_bytes(32), campaign_id.bytes + b"link-key"),
        )
        await audit.record(conn, actor=key.actor, action="campaign.create",
                           object_type="campaign", object_id=str(campaign_id), outcome="draft")
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
    try:
        async with res.db.acquire() as conn, conn.transaction():
            if csv_body is not None:
                report = await stage_csv(
                    conn, res.settings.keyring, key, campaign["id"], csv_body)
            else:
                report = await stage_authorized(
                    conn, res.settings.keyring, key, campaign["id"], tag
                )
            await audit.record(
                conn, actor=key.actor, action="campaign.audience", object_type="campaign",
                object_id=str(campaign["id"]), outcome="staged",
                detail=f"rows={report.rows} accepted={report.accepted}",
            )
    except TooManyRows:
        raise Problem(413, "audience-too-large", "The audience is too large",
                      f"An upload may have at most {MAX_ROWS} rows") from None
    except LineTooLong as exc:
        raise Problem(422, "audience-line-too-long", "A line of the audience is too long",
                      f"A line may have at most {MAX_LINE_BYTES} bytes", line=exc.line) from None
    return JSONResponse(asdict(report))


async def send_campaign(request: Request) -> Response:
    res, key, campaign = await own_campaign(request, "marketer")
    require_marketing(res.settings.marketing_enabled)
    async with res.db.acquire() as conn, conn.transaction():
        started = await conn.fetchval(QUERIES.start_campaign, campaign["id"])
        if started is None:
            raise Problem(409, "campaign-not-draft", "This campaign was already started")
        await create_lanes(conn, campaign["id"], res.settings.fanout_lanes)
        await audit.record(conn, actor=key.actor, action="campaign.send",
                           object_type="campaign", object_id=str(campaign["id"]),
                           outcome="staging")
    await _enqueue_lanes(res, campaign["id"], range(res.settings.fanout_lanes))
    return JSONResponse({"id": str(campaign["id"]), "status": "staging"}, 202)


async def _enqueue_lanes(res: Resources, campaign_id: uuid.UUID, lanes: Iterable[int]) -> None:
    try:
        for lane in lanes:
            await enqueue_fan_out(res.redis, res.settings.queue_name, str(campaign_id), lane)
    except REDIS_UNREACHABLE as exc:
        # The lanes are committed: the sweep starts any lane nobody advances.
        log.warning("fan-out enqueue failed (%s); the outbox sweep will start it",
                    type(exc).__name__)


@dataclass(frozen=True, slots=True)
class _Transition:
    """A move of a running campaign: ``change`` returns the campaign's new status, or nothing
    when the campaign is not in a state it applies to (``refused``); ``messages`` moves its
    waiting messages in the same transaction, with ``message_args`` taken from the campaign."""

    action: str
    change: str
    refused: tuple[str, str]
    messages: str
    message_args: Callable[[Any], tuple[Any, ...]] = lambda campaign: ()

    async def apply(self, request: Request) -> tuple[Resources, Any, str]:
        res, key, campaign = await own_campaign(request, "marketer")
        async with res.db.acquire() as conn, conn.transaction():
            status = await conn.fetchval(self.change, campaign["id"])
            if status is None:
                raise Problem(409, *self.refused)
            await conn.execute(self.messages, campaign["id"], *self.message_args(campaign))
            await audit.record(conn, actor=key.actor, action=f"campaign.{self.action}",
                               object_type="campaign", object_id=str(campaign["id"]),
                               outcome=str(status))
        return res, campaign, str(status)


_PAUSE = _Transition("pause", QUERIES.pause_campaign,
                     ("campaign-not-running", "Only a running campaign can be paused"),
                     QUERIES.pause_campaign_messages)
_RESUME = _Transition("resume", QUERIES.resume_campaign,
                      ("campaign-not-paused", "Only a paused campaign can be resumed"),
                      QUERIES.resume_campaign_messages,
                      lambda campaign: (campaign["rate_per_second"],))
_CANCEL = _Transition("cancel", QUERIES.cancel_campaign,
                      ("campaign-finished", "This campaign has already ended"),
                      QUERIES.cancel_campaign_messages)


def _status(campaign: Any, status: str) -> Response:
    return JSONResponse({"id": str(campaign["id"]), "status": status})


async def pause_campaign(request: Request) -> Response:
    _, campaign, status = await _PAUSE.apply(request)
    return _status(campaign, status)


async def resume_campaign(request: Request) -> Response:
    res, campaign, status = await _RESUME.apply(request)
    if status == "staging":
        lanes = [row["lane"] for row in await res.db.fetch(QUERIES.fanout_lanes, campaign["id"])]
        await _enqueue_lanes(res, campaign["id"], lanes)
    await res.nudger.nudge()
    return _status(campaign, status)


async def cancel_campaign(request: Request) -> Response:
    _, campaign, status = await _CANCEL.apply(request)
    return _status(campaign, status)


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
