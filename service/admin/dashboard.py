"""``/admin``: the aggregate engagement dashboard, for a signed-in admin or marketer (a marketer
sees their own campaigns: ``engagement.overview`` chooses by the key)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from service.admin import pages
from service.admin.guard import signed_in, to_sign_in
from service.admin.layout import respond
from service.engagement import overview, window


async def show(request: Request) -> Response:
    who = await signed_in(request, "admin", "marketer")
    if who is None:
        return to_sign_in()
    start, end = window(request)
    numbers = await overview(who.res, who.key, start, end)
    return respond(pages.dashboard(who.res.settings.clinic, who.staff, numbers))
