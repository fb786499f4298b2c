"""``/admin``: sign in with an admin API key, then the aggregate dashboard; sign out.

Sign-in and sign-out are POSTs that a foreign page cannot forge: the cookie is SameSite=Strict,
a cross-origin ``Origin`` is refused, and sign-out also needs the session's CSRF token.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from service.access import authenticate
from service.admin import pages, sessions
from service.core import paths
from service.core.bodies import read_form
from service.core.problems import Problem
from service.db.resources import Resources
from service.engagement import overview, window

_FORM_LIMIT = 2048
# Under the service-wide "no-referrer", Chromium sends "Origin: null" with a form post, which
# cannot be told from a sandboxed attacker's; the dashboard's own pages say "same-origin", so
# their posts carry the real origin and anything else is refused.
_PAGE_HEADERS = {"Referrer-Policy": "same-origin"}


def _html(body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status_code, headers=_PAGE_HEADERS)


def _same_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise Problem(403, "cross-origin", "This form must be sent from the dashboard itself")


def _secure(request: Request, res: Resources) -> bool:
    return request.url.scheme == "https" or res.settings.public_base_url.startswith("https://")


async def show(request: Request) -> Response:
    res: Resources = request.app.state.resources
    token = request.cookies.get(sessions.COOKIE)
    key = await sessions.current(res.db, token)
    if key is None or token is None:
        return RedirectResponse(paths.DASHBOARD_LOGIN, status_code=303)
    start, end = window(request)
    numbers = await overview(res, key, start, end)
    csrf = sessions.csrf_token(res.settings.keyring, token)
    return _html(pages.dashboard(key.name, csrf, numbers))


async def sign_in_page(request: Request) -> Response:
    return _html(pages.sign_in())


async def sign_in(request: Request) -> Response:
    res: Resources = request.app.state.resources
    _same_origin(request)
    form = await read_form(request, _FORM_LIMIT)
    key = await authenticate(res.db, "Bearer " + form.get("api_key", "").strip())
    if key is None:
        return _html(pages.sign_in("That key was not accepted."), status_code=401)
    if key.role != "admin":
        return _html(pages.sign_in("Only an admin key can open the dashboard."), status_code=403)
    token = await sessions.start(res.db, key)
    response = RedirectResponse(paths.DASHBOARD, status_code=303)
    response.set_cookie(
        sessions.COOKIE, token, max_age=sessions.SESSION_SECONDS, path=paths.DASHBOARD,
        httponly=True, samesite="strict", secure=_secure(request, res),
    )
    return response


async def sign_out(request: Request) -> Response:
    res: Resources = request.app.state.resources
    _same_origin(request)
    form = await read_form(request, _FORM_LIMIT)
    token = request.cookies.get(sessions.COOKIE)
    if token is not None:
        if not sessions.csrf_ok(res.settings.keyring, token, form.get("csrf", "")):
            raise Problem(403, "csrf", "The sign-out form was not from this session")
        await sessions.end(res.db, token)
    response = RedirectResponse(paths.DASHBOARD_LOGIN, status_code=303)
    response.delete_cookie(
        sessions.COOKIE, path=paths.DASHBOARD, httponly=True, samesite="strict",
        secure=_secure(request, res),
    )
    return response
