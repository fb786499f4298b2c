"""``/p/{token}``: the patient reads the secure message.

GET changes nothing and reveals nothing but when the message was sent and whether it can still
be opened (link scanners prefetch it); POST decrypts, after the verification answer when one was
set. A message can be read any number of times until it expires, when the purge deletes its
content; too many wrong answers lock it for good. A link past either says so, and how to reach
the clinic: only a link's holder sees that, and a link that names no message gets one page
whatever the reason.
"""

from __future__ import annotations

import asyncio
import dataclasses

import asyncpg
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from service import audit
from service.core.answers import read_date
from service.core.bodies import read_form
from service.core.crypto import DecryptionError, check_answer, decode_token
from service.db.queries import QUERIES
from service.db.resources import Resources
from service.portal import pages
from service.portal.links import find_message

_FORM_LIMIT = 4096


async def show_landing(request: Request) -> Response:
    res: Resources = request.app.state.resources
    found = await _open_link(res, request.path_params["token"])
    if isinstance(found, Response):
        return found
    row, _ = found
    return HTMLResponse(pages.portal_landing(
        res.settings.clinic, pages.day(row["sent_at"]), asks=row["verification_hash"] is not None,
    ))


async def reveal(request: Request) -> Response:
    res: Resources = request.app.state.resources
    form = await read_form(request, _FORM_LIMIT)
    found = await _open_link(res, request.path_params["token"])
    if isinstance(found, Response):
        return found
    row, raw_token = found
    keyring = res.settings.keyring
    try:
        if row["verification_hash"] is not None:
            refused = await _verify(res, row, raw_token, form.get("answer"))
            if refused is not None:
                return refused
        if row["content_sealed"] is not None:
            content = keyring.open_with_token(
                row["content_sealed"], raw_token, row["id"].bytes + b"content"
            )
        else:
            content = keyring.open(
                row["campaign_content_sealed"], row["campaign_id"].bytes + b"content"
            )
    except DecryptionError:
        return _unavailable(res)
    async with res.db.acquire() as conn, conn.transaction():
        await audit.record(conn, actor="patient", action="portal.read", object_type="message",
                           object_id=str(row["id"]), outcome="shown")
    return HTMLResponse(pages.portal_message(
        res.settings.clinic, pages.day(row["sent_at"]), pages.day(row["expires_at"]),
        content.decode(),
    ))


async def _open_link(res: Resources, token: str) -> tuple[asyncpg.Record, bytes] | Response:
    """The message the link names and the link's raw token, or the page saying why it cannot
    be opened."""
    raw_token = decode_token(token)
    if raw_token is None:
        return _unavailable(res)
    row = await find_message(res.db, res.settings.keyring, raw_token, b"portal",
                             QUERIES.portal_message)
    if row is None:
        return _unavailable(res)
    clinic = res.settings.clinic
    if row["expired"]:
        return HTMLResponse(pages.portal_expired(clinic, pages.day(row["expires_at"])), 404)
    if row["verification_failures"] >= res.settings.verification_max_failures:
        return HTMLResponse(pages.portal_locked(clinic), 404)
    if row["content_sealed"] is None and row["campaign_content_sealed"] is None:
        return _unavailable(res)  # withdrawn before it was sent
    return row, raw_token


async def _verify(res: Resources, row: asyncpg.Record, raw_token: bytes,
                  answer: str | None) -> Response | None:
    """None when ``answer`` is right; else the page that asks (again), or says it is locked.
    Only an answer that could be right uses a try: a blank one, or a date that names no day,
    cannot match, and is asked again without counting."""
    limit = res.settings.verification_max_failures
    hint = None
    if row["verification_hint_sealed"] is not None:
        hint = res.settings.keyring.open_with_token(
            row["verification_hint_sealed"], raw_token, row["id"].bytes + b"verification-hint",
        ).decode()
    question = pages.Question(hint, row["verification_format"] == "date",
                              limit - row["verification_failures"], limit)
    sent = pages.day(row["sent_at"])
    clinic = res.settings.clinic
    if answer is None:
        return HTMLResponse(pages.portal_verify(clinic, sent, question))
    if not answer.strip():
        return HTMLResponse(pages.portal_verify(clinic, sent, question, "blank"), 422)
    if question.is_date:
        date = read_date(answer)
        if date is None:
            return HTMLResponse(pages.portal_verify(clinic, sent, question, "unreadable"), 422)
        answer = date.isoformat()
    if await asyncio.to_thread(check_answer, answer, row["verification_hash"]):
        return None
    async with res.db.acquire() as conn, conn.transaction():
        failures = await conn.fetchval(QUERIES.record_verification_failure, row["id"])
        await audit.record(
            conn, actor="patient", action="portal.verify", object_type="message",
            object_id=str(row["id"]), outcome="locked" if failures >= limit else "wrong_answer",
        )
    if failures >= limit:
        return HTMLResponse(pages.portal_locked(clinic), 404)
    question = dataclasses.replace(question, tries_left=limit - failures)
    return HTMLResponse(pages.portal_verify(clinic, sent, question, "wrong"), 422)


def _unavailable(res: Resources) -> Response:
    return HTMLResponse(pages.portal_unavailable(res.settings.clinic), status_code=404)
