"""``/p/{token}``: the patient reads the secure message.

GET changes nothing and reveals nothing (link scanners prefetch it); POST decrypts, after the
verification answer when one was set. Too many wrong answers lock the message for good.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from service import audit
from service.core.bodies import read_form
from service.core.crypto import DecryptionError, check_answer, decode_token
from service.db.queries import QUERIES
from service.db.resources import Resources
from service.portal import pages
from service.portal.links import find_message

_FORM_LIMIT = 4096


async def show_landing(request: Request) -> Response:
    return HTMLResponse(pages.portal_landing(request.app.state.resources.settings.clinic))


async def reveal(request: Request) -> Response:
    res: Resources = request.app.state.resources
    form = await read_form(request, _FORM_LIMIT)
    raw_token = decode_token(request.path_params["token"])
    if raw_token is None:
        return _unavailable(res)
    row = await find_message(res.db, res.settings.keyring, raw_token, b"portal",
                             QUERIES.portal_message)
    limit = res.settings.verification_max_failures
    if (
        row is None or row["expired"] or row["verification_failures"] >= limit
        or (row["content_sealed"] is None and row["campaign_content_sealed"] is None)
    ):
        return _unavailable(res)
    if row["verification_hash"] is not None:
        answer = form.get("answer")
        if answer is None:
            return HTMLResponse(pages.portal_verify(res.settings.clinic, failed=False))
        matched = await asyncio.to_thread(check_answer, answer, row["verification_hash"])
        if not matched:
            async with res.db.acquire() as conn, conn.transaction():
                failures = await conn.fetchval(QUERIES.record_verification_failure, row["id"])
                await audit.record(
                    conn, actor="patient", action="portal.verify", object_type="message",
                    object_id=str(row["id"]),
                    outcome="locked" if failures >= limit else "wrong_answer",
                )
            if failures >= limit:
                return _unavailable(res)
            return HTMLResponse(pages.portal_verify(res.settings.clinic, failed=True),
                                status_code=422)
    keyring = res.settings.keyring
    try:
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
    return HTMLResponse(pages.portal_message(res.settings.clinic, content.decode()))


def _unavailable(res: Resources) -> Response:
    return HTMLResponse(pages.portal_unavailable(res.settings.clinic), status_code=404)
