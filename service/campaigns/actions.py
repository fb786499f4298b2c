"""What can be done to a campaign, whoever asks: the JSON API (``routes.py``) and the staff pages
(``service/admin``) both call these, so a page can never do a thing the API would refuse, or the
other way round. Each takes the campaign as ``ownership.visible_campaign`` found it for the key.
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from service import audit
from service.access import ApiKey
from service.campaigns.audience import (
    MAX_LINE_BYTES,
    MAX_ROWS,
    AudienceReport,
    TooManyRows,
    stage_authorized,
    stage_csv,
)
from service.campaigns.fanout import create_lanes
from service.campaigns.input import NewCampaign
from service.campaigns.lines import LineTooLong
from service.campaigns.pacing import Pace, Progress, progress
from service.core.problems import Problem, require_marketing
from service.db.queries import QUERIES
from service.db.queue import REDIS_UNREACHABLE, enqueue_fan_out
from service.db.resources import Resources
from service.subjects import SubjectGate

log = logging.getLogger(__name__)


async def create(res: Resources, key: ApiKey, gate: SubjectGate, new: NewCampaign) -> uuid.UUID:
    """A draft campaign, once its subject (and teaser, shown in the email) pass the policy."""
    require_marketing(res.settings.marketing_enabled)
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
    return campaign_id


async def stage_audience(res: Resources, key: ApiKey, campaign: Any,
                         csv_body: AsyncIterator[bytes] | None, tag: str | None) -> AudienceReport:
    """A draft's audience: the CSV's rows (``csv_body``), or else the contacts with a confirmed
    marketing authorization (and ``tag``, when given)."""
    if campaign["status"] != "draft":
        raise Problem(409, "campaign-not-draft", "The audience can change only before sending")
    try:
        async with res.db.acquire() as conn, conn.transaction():
            if csv_body is not None:
                report = await stage_csv(conn, res.settings.keyring, key, campaign["id"],
                                         csv_body)
            else:
                report = await stage_authorized(conn, res.settings.keyring, key,
                                                campaign["id"], tag)
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
    return report


async def start(res: Resources, key: ApiKey, campaign: Any) -> None:
    """Sends a draft: its fan-out lanes start (or wait for its scheduled time)."""
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


async def _enqueue_lanes(res: Resources, campaign_id: uuid.UUID, lanes: Iterable[int]) -> None:
    try:
        for lane in lanes:
            await enqueue_fan_out(res.redis, res.settings.queue_name, str(campaign_id), lane)
    except REDIS_UNREACHABLE as exc:
        # The lanes are committed: the sweep starts any lane nobody advances.
        log.warning("fan-out enqueue failed (%s); the outbox sweep will start it",
                    type(exc).__name__)


@dataclass(frozen=True, slots=True)
class Transition:
    """A move of a running campaign: ``change`` returns the campaign's new status, or nothing
    when the campaign is not in a state it applies to (``refused``); ``messages`` moves its
    waiting messages in the same transaction, with ``message_args`` taken from the campaign."""

    action: str
    change: str
    refused: tuple[str, str]
    messages: str
    message_args: Callable[[Any], tuple[Any, ...]] = lambda campaign: ()

    async def apply(self, res: Resources, key: ApiKey, campaign: Any) -> str:
        """The campaign's new status."""
        async with res.db.acquire() as conn, conn.transaction():
            status = await conn.fetchval(self.change, campaign["id"])
            if status is None:
                raise Problem(409, *self.refused)
            await conn.execute(self.messages, campaign["id"], *self.message_args(campaign))
            await audit.record(conn, actor=key.actor, action=f"campaign.{self.action}",
                               object_type="campaign", object_id=str(campaign["id"]),
                               outcome=str(status))
        if self.action == "resume":
            if status == "staging":
                lanes = [row["lane"] for row in
                         await res.db.fetch(QUERIES.fanout_lanes, campaign["id"])]
                await _enqueue_lanes(res, campaign["id"], lanes)
            await res.nudger.nudge()
        return str(status)


PAUSE = Transition("pause", QUERIES.pause_campaign,
                   ("campaign-not-running", "Only a running campaign can be paused"),
                   QUERIES.pause_campaign_messages)
RESUME = Transition("resume", QUERIES.resume_campaign,
                    ("campaign-not-paused", "Only a paused campaign can be resumed"),
                    QUERIES.resume_campaign_messages,
                    lambda campaign: (campaign["rate_per_second"],))
CANCEL = Transition("cancel", QUERIES.cancel_campaign,
                    ("campaign-finished", "This campaign has already ended"),
                    QUERIES.cancel_campaign_messages)


async def staged(res: Resources, campaign: Any) -> int:
    """How many distinct valid addresses its audience holds (before consent is checked)."""
    size: int = await res.db.fetchval(QUERIES.audience_size, campaign["id"])
    return size


async def progress_of(res: Resources, campaign: Any) -> Progress:
    """Counts and ETA; of ``campaign`` only its id and status are read (a listing's row will
    do)."""
    campaign_id = campaign["id"]
    audience = await staged(res, campaign)
    by_status = {r["status"]: r["n"] for r in
                 await res.db.fetch(QUERIES.campaign_progress, campaign_id)}
    recent = await res.db.fetchval(QUERIES.campaign_recent_sends, campaign_id)
    excluded = json.loads(await res.db.fetchval(QUERIES.campaign_excluded, campaign_id))
    plan = await res.db.fetchrow(QUERIES.campaign_pace, campaign_id)
    pace = Pace(plan["rate_per_second"], res.settings.smtp_max_rate, plan["start_in"],
                plan["last_due_in"])
    return progress(audience, excluded, by_status, recent, pace,
                    active=campaign["status"] in ("staging", "sending"))
