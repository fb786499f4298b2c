"""``/admin/campaigns``: the campaigns a signed-in admin (the organization's) or marketer (their
own) may see, each with its progress and ETA, and one campaign's page with pause, resume and
cancel. The moves are ``campaigns.actions``' own, as the JSON API's are, so a page can do nothing
the API would refuse; a refused move is the page again with the reason."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from service.admin import campaign_views, editor
from service.admin.guard import SignedIn, signed_in, staff_form, to_sign_in
from service.admin.layout import respond
from service.campaigns import actions, visible_campaign
from service.core import paths
from service.core.fields import path_id
from service.core.pagination import page, page_request
from service.core.problems import Problem
from service.db.queries import QUERIES

# Each campaign shown costs a few counting queries: a shorter page than the API's by default.
_PAGE = 20


async def list_page(request: Request) -> Response:
    who = await signed_in(request, "admin", "marketer")
    if who is None:
        return to_sign_in()
    wanted = page_request(request, (dt.datetime.fromisoformat, uuid.UUID))
    if "limit" not in request.query_params:
        wanted = replace(wanted, limit=_PAGE)
    after = wanted.after or (None, None)
    key = who.key
    rows = await who.res.db.fetch(
        QUERIES.campaigns_page, key.organization_id, None if key.role == "admin" else key.id,
        None, *after, wanted.limit + 1)
    shown = page(rows, wanted, lambda row: (row["created_at"], row["id"]), dict)
    # One campaign after another: the page takes one pooled connection at a time.
    numbers = [await actions.progress_of(who.res, row) for row in shown["items"]]
    cursor = shown["next_cursor"]
    older = f"{paths.DASHBOARD_CAMPAIGNS}?{urlencode({'cursor': cursor})}" if cursor else None
    return respond(campaign_views.campaign_list(
        who.res.settings.clinic, who.staff, list(zip(shown["items"], numbers, strict=True)),
        older))


async def detail_page(request: Request) -> Response:
    who = await signed_in(request, "admin", "marketer")
    if who is None:
        return to_sign_in()
    campaign_id = path_id(request, "campaign_id")
    notice = campaign_views.NOTICES.get(request.query_params.get("notice", ""))
    return await _detail(who, campaign_id, notice)


async def _detail(who: SignedIn, campaign_id: uuid.UUID, notice: str | None = None,
                  error: str | None = None, status_code: int = 200) -> Response:
    campaign = await visible_campaign(who.res.db, who.key, campaign_id)
    if campaign["status"] == "draft":
        # A draft is still being written: its page is the marketer's editor.
        return await editor.draft_page(who, campaign, error or notice)
    numbers = await actions.progress_of(who.res, campaign)
    return respond(campaign_views.campaign_detail(
        who.res.settings.clinic, who.staff, campaign, numbers, notice, error), status_code)


async def _move(request: Request, transition: actions.Transition, done: str) -> Response:
    who = await signed_in(request, "admin", "marketer")
    if who is None:
        return to_sign_in()
    form = await staff_form(request, who)
    campaign_id = path_id(request, "campaign_id")
    campaign = await visible_campaign(who.res.db, who.key, campaign_id)
    if transition is actions.CANCEL and form.get("confirm") != "yes":
        return await _detail(who, campaign_id, error="Tick the box to confirm the cancellation: "
                             "nothing was cancelled.", status_code=422)
    try:
        await transition.apply(who.res, who.key, campaign)
    except Problem as refused:
        if refused.status != 409:
            raise
        return await _detail(who, campaign_id, error=refused.detail or refused.title,
                             status_code=409)
    target = paths.DASHBOARD_CAMPAIGN.format(campaign_id=campaign_id)
    return RedirectResponse(f"{target}?{urlencode({'notice': done})}", status_code=303)


async def pause(request: Request) -> Response:
    return await _move(request, actions.PAUSE, "paused")


async def resume(request: Request) -> Response:
    return await _move(request, actions.RESUME, "resumed")


async def cancel(request: Request) -> Response:
    return await _move(request, actions.CANCEL, "cancelled")
