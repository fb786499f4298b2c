"""``/admin``: the aggregate dashboard, for a signed-in admin (``admin/sign_in.py``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from service.admin import pages, sessions
from service.core import paths
from service.db.resources import Resources
from service.engagement import overview, window


async def show(request: Request) -> Response:
    res: Resources = request.app.state.resources
    token = request.cookies.get(sessions.COOKIE)
    key = await sessions.current(res.db, token)
    if key is None or token is None:
        return RedirectResponse(paths.DASHBOARD_LOGIN, status_code=303)
    start, end = window(request)
    numbers = await overview(res, key, start, end)
    csrf = sessions.csrf_token(res.settings.keyring, token)
    return pages.respond(pages.dashboard(key.name, csrf, numbers))

