"""Who may open a staff page, and whether a staff form may act: a signed-in session of one of the
page's roles, and for a POST the same origin and the session's CSRF token."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from service.access import ApiKey, Role
from service.admin import sessions
from service.admin.layout import Staff
from service.core import paths
from service.core.bodies import read_form
from service.core.problems import Problem
from service.db.resources import Resources

_FORM_LIMIT = 2048


@dataclass(frozen=True, slots=True)
class SignedIn:
    res: Resources
    key: ApiKey
    token: str
    staff: Staff


def same_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise Problem(403, "cross-origin", "This form must be sent from the staff pages")


def to_sign_in() -> Response:
    return RedirectResponse(paths.DASHBOARD_LOGIN, status_code=303)


async def signed_in(request: Request, *roles: Role) -> SignedIn | None:
    """The signed-in session, or None (the caller answers ``to_sign_in()``). A session whose
    key has none of ``roles`` is a 403: it is signed in, just not for this page."""
    res: Resources = request.app.state.resources
    token = request.cookies.get(sessions.COOKIE)
    key = await sessions.current(res.db, token)
    if key is None or token is None:
        return None
    if key.role not in roles:
        raise Problem(403, "forbidden", "This page is not open to your role")
    csrf = sessions.csrf_token(res.settings.keyring, token)
    return SignedIn(res, key, token, Staff(key.name, key.role, csrf))


def check_csrf(who: SignedIn, fields: dict[str, str]) -> None:
    if not sessions.csrf_ok(who.res.settings.keyring, who.token, fields.get("csrf", "")):
        raise Problem(403, "csrf", "The form was not from this session")


async def staff_form(request: Request, who: SignedIn, limit: int = _FORM_LIMIT) -> dict[str, str]:
    """The posted form of a signed-in page, once its origin and CSRF token are checked."""
    same_origin(request)
    form = await read_form(request, limit)
    check_csrf(who, form)
    return form
