"""The marketer's campaign editor: ``/admin/campaigns/new`` (with the subject check), a draft's
page (``draft_page``, which the campaign page shows for a draft), its audience upload, the
preview of its email and sending it. Every change goes through ``campaigns.actions``, so a page
can do exactly what the JSON API can, under the same rules (``parse_campaign``, the subject
gate, the audience caps).

The audience upload's CSRF token is the form's first field, checked before any byte of the
file is read on (``multipart.file_chunks``): a forged upload stages nothing. The token is not
put in the query string, where the access log and the browser's history would keep it.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from service.access import Role
from service.admin import editor_pages
from service.admin.editor_pages import Checked
from service.admin.guard import (
    SignedIn,
    check_csrf,
    same_origin,
    signed_in,
    staff_form,
    to_sign_in,
)
from service.admin.layout import respond
from service.admin.multipart import file_chunks
from service.campaigns import actions, parse_campaign, visible_campaign
from service.core import paths
from service.core.fields import path_id
from service.core.problems import Problem, require_marketing
from service.delivery import preview_campaign
from service.subjects import SubjectGate

_FIELDS = ("name", "subject", "teaser", "content", "links", "tracking", "rate_per_second",
           "scheduled_at")
_OFFSET = re.compile(r"(Z|[+-][0-9]{2}:?[0-9]{2})$")


def _api_body(form: dict[str, str]) -> dict[str, Any]:
    """The form as the JSON API's body, for ``parse_campaign`` to judge: one set of rules. A
    blank optional field is absent; the form's time is UTC unless it says otherwise."""
    body: dict[str, Any] = {name: form.get(name, "") for name in ("name", "subject")}
    for name in ("teaser", "content"):
        if form.get(name, "").strip():
            body[name] = form[name]
    body["links"] = [line.strip() for line in form.get("links", "").splitlines() if line.strip()]
    body["tracking"] = form.get("tracking") == "on"
    rate = form.get("rate_per_second", "").strip()
    try:
        body["rate_per_second"] = float(rate)
    except ValueError:
        body["rate_per_second"] = rate  # refused by the API's rule, with its message
    if when := form.get("scheduled_at", "").strip():
        body["scheduled_at"] = when if _OFFSET.search(when) else when + "+00:00"
    return body


async def _checks(who: SignedIn, gate: SubjectGate, form: dict[str, str]) -> list[Checked]:
    """The subject policy on the subject and, when given, the teaser: what ``actions.create``
    will apply, run alone."""
    res = who.res
    checks = []
    for name in ("subject", "teaser"):
        text = form.get(name, "").strip()
        if not text and name == "teaser":
            continue
        try:
            await gate.enforce(res.db, res.settings.subject_mode, text, who.key.organization_id)
            checks.append(Checked(name, text, None))
        except Problem as problem:
            checks.append(Checked(name, text, problem))
    return checks


def _marketing_off(who: SignedIn) -> Response | None:
    try:
        require_marketing(who.res.settings.marketing_enabled)
    except Problem as problem:
        return respond(editor_pages.refused(who.res.settings.clinic, who.staff, problem,
                                            paths.DASHBOARD_CAMPAIGNS), problem.status)
    return None


async def new_page(request: Request) -> Response:
    who = await signed_in(request, "marketer")
    if who is None:
        return to_sign_in()
    return _marketing_off(who) or respond(
        editor_pages.campaign_form(who.res.settings.clinic, who.staff, {}))


async def create(request: Request) -> Response:
    who = await signed_in(request, "marketer")
    if who is None:
        return to_sign_in()
    res = who.res
    form = await staff_form(request, who, res.settings.content_max_bytes * 4 + 64 * 1024)
    if off := _marketing_off(who):
        return off
    values = {name: form.get(name, "") for name in _FIELDS}
    gate = SubjectGate.of(request)
    clinic = res.settings.clinic
    if form.get("intent") == "check":
        checks = await _checks(who, gate, form)
        return respond(editor_pages.campaign_form(clinic, who.staff, values, checks=checks))
    try:
        new = parse_campaign(_api_body(form), res.settings.content_max_bytes)
        campaign_id = await actions.create(res, who.key, gate, new)
    except Problem as problem:
        if problem.status != 422:
            raise
        refused = problem.slug == "subject-not-generic"
        checks = await _checks(who, gate, form) if refused else []
        page = editor_pages.campaign_form(
            clinic, who.staff, values, f"{problem.title}: {problem.detail}",
            problem.extra.get("fields", ()), checks)
        return respond(page, 422)
    return RedirectResponse(paths.DASHBOARD_CAMPAIGN.format(campaign_id=campaign_id), 303)


async def draft_page(who: SignedIn, campaign: Any, notice: str | None = None) -> Response:
    """A draft's page: its settings, the audience upload, the preview link and sending."""
    staged = await actions.staged(who.res, campaign)
    return respond(editor_pages.draft(who.res.settings.clinic, who.staff, campaign, staged,
                                      notice))


async def _own(request: Request, *roles: Role) -> tuple[SignedIn, Any] | Response:
    who = await signed_in(request, *roles)
    if who is None:
        return to_sign_in()
    return who, await visible_campaign(who.res.db, who.key, path_id(request, "campaign_id"))


def _not_draft(who: SignedIn, campaign: Any) -> Response | None:
    if campaign["status"] == "draft":
        return None
    problem = Problem(409, "campaign-not-draft", "This campaign was already sent",
                      "Its audience and settings can no longer change.")
    page = editor_pages.refused(who.res.settings.clinic, who.staff, problem,
                                paths.DASHBOARD_CAMPAIGN.format(campaign_id=campaign["id"]))
    return respond(page, 409)


async def upload_audience(request: Request) -> Response:
    found = await _own(request, "marketer")
    if isinstance(found, Response):
        return found
    who, campaign = found
    if refusal := _not_draft(who, campaign):
        return refusal
    res = who.res
    same_origin(request)
    chunks = file_chunks(request, res.settings.audience_max_bytes, "audience",
                         lambda fields: check_csrf(who, fields))
    try:
        report = await actions.stage_audience(res, who.key, campaign, chunks, None)
    except Problem as problem:
        if problem.status in (403, 409):
            raise
        staged = await actions.staged(res, campaign)
        error = f"Nothing was added. {problem.title}: {problem.detail}"
        if line := problem.extra.get("line"):
            error += f" (line {line})"
        return respond(editor_pages.draft(res.settings.clinic, who.staff, campaign, staged,
                                          error=error), problem.status)
    staged = await actions.staged(res, campaign)
    return respond(editor_pages.draft(res.settings.clinic, who.staff, campaign, staged,
                                      "The file was read.", report))


async def preview(request: Request) -> Response:
    found = await _own(request, "marketer", "admin")
    if isinstance(found, Response):
        return found
    who, campaign = found
    email = preview_campaign(who.res.settings, campaign)
    return respond(editor_pages.preview(who.res.settings.clinic, who.staff, campaign, email))


async def send(request: Request) -> Response:
    """Without ``confirm=yes``, the confirmation (how many it goes to); with it, sent."""
    found = await _own(request, "marketer")
    if isinstance(found, Response):
        return found
    who, campaign = found
    form = await staff_form(request, who)
    if (refusal := _not_draft(who, campaign)) or (refusal := _marketing_off(who)):
        return refusal
    staged = await actions.staged(who.res, campaign)
    if form.get("confirm") != "yes" or staged == 0:
        return respond(editor_pages.confirm_send(who.res.settings.clinic, who.staff, campaign,
                                                 staged))
    await actions.start(who.res, who.key, campaign)
    return RedirectResponse(paths.DASHBOARD_CAMPAIGN.format(campaign_id=campaign["id"]), 303)
