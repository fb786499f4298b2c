"""``/admin/login``, ``/admin/enrol`` and ``/admin/logout``: sign in to the dashboard with an admin
API key and a TOTP code, set up the authenticator the first time, sign out.

Every form is a POST that a foreign page cannot forge: the cookies are SameSite=Strict, a
cross-origin ``Origin`` is refused, and each form carries a CSRF token bound to what the browser
holds (before sign-in, a random pre-session cookie; after, the session).

An admin key with no confirmed second factor signs in to the enrolment page only: it shows a new
TOTP secret, and the dashboard opens once a code of it is accepted. Whoever holds the key could
enrol first, but an admin key already opens every admin API without the dashboard; an operator
who wants the secret set up out of band runs ``python -m service enrol-totp`` before handing the
key over, and the page never replaces a confirmed secret.
"""

from __future__ import annotations

import datetime as dt
import math

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from service import audit
from service.access import authenticate, split_key
from service.admin import lockout, pages, sessions, totp
from service.admin.guard import same_origin
from service.admin.layout import respond
from service.core import paths
from service.core.bodies import read_form
from service.core.problems import Problem
from service.db.resources import Resources

_FORM_LIMIT = 2048
_REFUSED = "That key or code was not accepted."
# Sender keys belong to clinic systems, not people: they have no pages.
STAFF_ROLES = ("admin", "marketer")


def _secure(request: Request, res: Resources) -> bool:
    return request.url.scheme == "https" or res.settings.public_base_url.startswith("https://")


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _set_cookie(response: Response, request: Request, res: Resources, name: str, value: str,
                max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path=paths.DASHBOARD, httponly=True,
                        samesite="strict", secure=_secure(request, res))


def _with_session(request: Request, res: Resources, token: str, to: str) -> Response:
    response = RedirectResponse(to, status_code=303)
    _set_cookie(response, request, res, sessions.COOKIE, token, sessions.SESSION_SECONDS)
    return response


def _sign_in_form(res: Resources, pre: str, error: str | None = None,
                  status_code: int = 200) -> Response:
    csrf = sessions.pre_session_csrf(res.settings.keyring, pre)
    return respond(pages.sign_in(res.settings.clinic, csrf, error), status_code=status_code)


def _locked(res: Resources, until: dt.datetime) -> Response:
    seconds = max(1, math.ceil((until - dt.datetime.now(dt.UTC)).total_seconds()))
    response = respond(pages.locked(res.settings.clinic, math.ceil(seconds / 60)),
                       status_code=429)
    response.headers["Retry-After"] = str(seconds)
    return response


def _pre_session(request: Request) -> str | None:
    pre = request.cookies.get(sessions.PRE_COOKIE)
    return pre if pre and len(pre) <= 100 else None


async def sign_in_page(request: Request) -> Response:
    res: Resources = request.app.state.resources
    pre = _pre_session(request) or sessions.new_pre_session()
    response = _sign_in_form(res, pre)
    _set_cookie(response, request, res, sessions.PRE_COOKIE, pre)
    return response


async def sign_in(request: Request) -> Response:
    res: Resources = request.app.state.resources
    keyring = res.settings.keyring
    same_origin(request)
    form = await read_form(request, _FORM_LIMIT)
    pre = _pre_session(request)
    if pre is None or not sessions.pre_session_csrf_ok(keyring, pre, form.get("csrf", "")):
        raise Problem(403, "csrf", "The sign-in form was not from this browser's sign-in page")
    presented = form.get("api_key", "").strip()
    parts = split_key(presented)
    key_id = parts[0] if parts else None
    async with lockout.attempt(res.db, key_id, _client(request)) as attempt:
        if attempt.locked_until is not None:
            return _locked(res, attempt.locked_until)
        # On the attempt's own connection: a burst of sign-ins never waits for a second one.
        key = await authenticate(attempt.conn, "Bearer " + presented)
        if key is None or key_id is None:
            locked = await attempt.failed(key_id or "-", "unknown_key")
            return _locked(res, locked) if locked else _sign_in_form(res, pre, _REFUSED, 401)
        if key.role not in STAFF_ROLES:
            return _sign_in_form(res, pre, "Only an admin or marketer key can sign in here.",
                                 403)
        enrolment = await totp.enrolment(attempt.conn, keyring, key.id)
        replacing = request.cookies.get(sessions.COOKIE)
        if enrolment is None or not enrolment.confirmed:
            await totp.begin(attempt.conn, keyring, key.id, by_operator=False)
            await audit.record(attempt.conn, actor=key.actor, action="admin.totp.enrol",
                               object_type="api_key", object_id=key_id, outcome="started")
            token = await sessions.start(attempt.conn, key, "enrol", replacing)
            return _with_session(request, res, token, paths.DASHBOARD_ENROL)
        verdict = await totp.check(attempt.conn, enrolment.secret, key.id, form.get("code", ""))
        if verdict != "accepted":
            locked = await attempt.failed(key_id, f"{verdict}_code")
            return _locked(res, locked) if locked else _sign_in_form(res, pre, _REFUSED, 401)
        await attempt.succeeded(key.actor, key_id)
        token = await sessions.start(attempt.conn, key, "signed_in", replacing)
        return _with_session(request, res, token, paths.DASHBOARD)


async def _enrolling(request: Request, res: Resources) -> tuple[str, sessions.Session] | None:
    token = request.cookies.get(sessions.COOKIE)
    found = await sessions.session(res.db, token)
    if token is None or found is None or found.stage != "enrol":
        return None
    return token, found


def _enrol_form(res: Resources, token: str, found: sessions.Session, secret: str,
                error: str | None = None, status_code: int = 200) -> Response:
    uri = totp.provisioning_uri(secret, found.key.name)
    csrf = sessions.csrf_token(res.settings.keyring, token)
    return respond(pages.enrol(res.settings.clinic, totp.qr_svg(uri), secret, csrf, error),
                   status_code=status_code)


async def enrol_page(request: Request) -> Response:
    res: Resources = request.app.state.resources
    enrolling = await _enrolling(request, res)
    if enrolling is None:
        return RedirectResponse(paths.DASHBOARD_LOGIN, status_code=303)
    token, found = enrolling
    enrolment = await totp.enrolment(res.db, res.settings.keyring, found.key.id)
    if enrolment is None or enrolment.confirmed:
        return RedirectResponse(paths.DASHBOARD_LOGIN, status_code=303)
    return _enrol_form(res, token, found, enrolment.secret)


async def enrol(request: Request) -> Response:
    res: Resources = request.app.state.resources
    same_origin(request)
    form = await read_form(request, _FORM_LIMIT)
    enrolling = await _enrolling(request, res)
    if enrolling is None:
        return RedirectResponse(paths.DASHBOARD_LOGIN, status_code=303)
    token, found = enrolling
    if not sessions.csrf_ok(res.settings.keyring, token, form.get("csrf", "")):
        raise Problem(403, "csrf", "The enrolment form was not from this session")
    async with lockout.attempt(res.db, found.key_id, _client(request)) as attempt:
        if attempt.locked_until is not None:
            return _locked(res, attempt.locked_until)
        enrolment = await totp.enrolment(attempt.conn, res.settings.keyring, found.key.id)
        if enrolment is None or enrolment.confirmed:
            return RedirectResponse(paths.DASHBOARD_LOGIN, status_code=303)
        verdict = await totp.check(attempt.conn, enrolment.secret, found.key.id,
                                   form.get("code", ""))
        if verdict != "accepted":
            locked = await attempt.failed(found.key_id, f"enrol_{verdict}_code")
            if locked:
                return _locked(res, locked)
            return _enrol_form(res, token, found, enrolment.secret,
                               "That code was not accepted. Enter the current one.", 401)
        await audit.record(attempt.conn, actor=found.key.actor, action="admin.totp.enrol",
                           object_type="api_key", object_id=found.key_id, outcome="ok")
        await attempt.succeeded(found.key.actor, found.key_id)
        signed_in = await sessions.start(attempt.conn, found.key, "signed_in", token)
        return _with_session(request, res, signed_in, paths.DASHBOARD)


async def sign_out(request: Request) -> Response:
    res: Resources = request.app.state.resources
    same_origin(request)
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
