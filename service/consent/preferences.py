"""``/u/{token}`` one-click unsubscribe (RFC 8058) and ``/c/{token}`` double opt-in confirmation.

GET pages only ask, with a button: link scanners prefetch URLs, and a prefetch must neither
unsubscribe nor confirm anyone. POST acts at once, with no cookie or login: the token in the
URL is the credential. Both are idempotent, and both leave a ledger row and an audit record.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from service import audit
from service.consent import pages, store
from service.core.bodies import read_form
from service.core.crypto import decode_token, token_hash
from service.db.queries import QUERIES
from service.db.resources import Resources
from service.portal import find_message, link_unavailable

_FORM_LIMIT = 1024


def _clinic(request: Request) -> str:
    resources: Resources = request.app.state.resources
    return resources.settings.clinic_name


async def unsubscribe_page(request: Request) -> Response:
    return HTMLResponse(pages.unsubscribe_landing(_clinic(request)))


async def unsubscribe(request: Request) -> Response:
    res: Resources = request.app.state.resources
    # RFC 8058 sends "List-Unsubscribe=One-Click"; our own button sends the same.
    await read_form(request, _FORM_LIMIT)
    raw = decode_token(request.path_params["token"])
    target = None if raw is None else await find_message(
        res.db, res.settings.keyring, raw, b"unsubscribe", QUERIES.unsubscribe_target
    )
    if target is None:
        return HTMLResponse(link_unavailable(), status_code=404)
    async with res.db.acquire() as conn, conn.transaction():
        current = await store.decision(conn, target["recipient_index"], "marketing")
        if target["contact_id"] is not None and current.allowed:
            await conn.execute(
                QUERIES.insert_consent_event, target["contact_id"], "marketing", "revoke",
                "unsubscribe_link", "patient", None,
            )
            await audit.record(
                conn, actor="patient", action="consent.revoke", object_type="contact",
                object_id=str(target["contact_id"]), outcome="unsubscribed",
                detail=f"message:{target['message_id']}",
            )
    return HTMLResponse(pages.unsubscribed(_clinic(request)))


async def confirm_page(request: Request) -> Response:
    return HTMLResponse(pages.confirm_landing(_clinic(request)))


async def confirm(request: Request) -> Response:
    res: Resources = request.app.state.resources
    await read_form(request, _FORM_LIMIT)
    raw = decode_token(request.path_params["token"])
    found = await res.db.fetchrow(
        QUERIES.authorization_by_confirm_token, token_hash(raw)
    ) if raw else None
    if found is None:
        return HTMLResponse(link_unavailable(), status_code=404)
    async with res.db.acquire() as conn, conn.transaction():
        current = await store.decision(conn, found["email_index"], "marketing")
        # Confirms only the authorization this link was sent for, and only while it is the
        # pending one: an old link cannot revive an authorization revoked since.
        if current.refusal is not None and current.refusal.value == "authorization_unconfirmed":
            await conn.execute(
                QUERIES.insert_consent_event, found["contact_id"], "marketing", "confirm",
                "confirmation_link", "patient", found["id"],
            )
            await audit.record(
                conn, actor="patient", action="consent.confirm", object_type="authorization",
                object_id=str(found["id"]), outcome="confirmed",
            )
    return HTMLResponse(pages.confirmed(_clinic(request)))
