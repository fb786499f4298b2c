"""``/u/{token}`` one-click unsubscribe (RFC 8058) and ``/c/{token}`` double opt-in confirmation.

GET pages only ask, with a button: link scanners prefetch URLs, and a prefetch must neither
unsubscribe nor confirm anyone. POST acts at once, with no cookie or login: the token in the
URL is the credential. Both are idempotent, and both leave a ledger row and an audit record.
"""

from __future__ import annotations

import uuid

import asyncpg
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from service import audit
from service.consent import pages, store
from service.consent.policy import Refusal
from service.core.bodies import read_form
from service.core.clinic import Clinic
from service.core.crypto import decode_token, token_hash
from service.db.queries import QUERIES
from service.db.resources import Resources
from service.portal import find_message, link_unavailable

_FORM_LIMIT = 1024


def _clinic(request: Request) -> Clinic:
    resources: Resources = request.app.state.resources
    return resources.settings.clinic


async def _patient_choice(
    conn: asyncpg.Connection, contact_id: uuid.UUID, action: str, source: str,
    authorization_id: uuid.UUID | None, audited: tuple[str, str, str], detail: str | None = None,
) -> None:
    """A marketing ledger row the patient's own click wrote, and its audit record."""
    await conn.execute(QUERIES.insert_consent_event, contact_id, "marketing", action, source,
                       "patient", authorization_id)
    object_type, object_id, outcome = audited
    await audit.record(conn, actor="patient", action=f"consent.{action}",
                       object_type=object_type, object_id=object_id, outcome=outcome,
                       detail=detail)


async def unsubscribe_page(request: Request) -> Response:
    return HTMLResponse(pages.unsubscribe_landing(_clinic(request)))


async def _posted_token(request: Request) -> tuple[Resources, bytes | None]:
    """The link's token, once the posted form (whatever it says) is read within its cap."""
    await read_form(request, _FORM_LIMIT)
    return request.app.state.resources, decode_token(request.path_params["token"])


async def unsubscribe(request: Request) -> Response:
    # RFC 8058 sends "List-Unsubscribe=One-Click"; our own button sends the same.
    res, raw = await _posted_token(request)
    target = None if raw is None else await find_message(
        res.db, res.settings.keyring, raw, b"unsubscribe", QUERIES.unsubscribe_target
    )
    if target is None:
        return HTMLResponse(link_unavailable(res.settings.clinic), status_code=404)
    async with res.db.acquire() as conn, conn.transaction():
        current = await store.decision(conn, target["recipient_index"], "marketing")
        if target["contact_id"] is not None and current.allowed:
            await _patient_choice(
                conn, target["contact_id"], "revoke", "unsubscribe_link", None,
                ("contact", str(target["contact_id"]), "unsubscribed"),
                detail=f"message:{target['message_id']}",
            )
    return HTMLResponse(pages.unsubscribed(_clinic(request)))


async def confirm_page(request: Request) -> Response:
    return HTMLResponse(pages.confirm_landing(_clinic(request)))


async def confirm(request: Request) -> Response:
    res, raw = await _posted_token(request)
    found = await res.db.fetchrow(
        QUERIES.authorization_by_confirm_token, token_hash(raw)
    ) if raw else None
    if found is None:
        return HTMLResponse(link_unavailable(res.settings.clinic), status_code=404)
    async with res.db.acquire() as conn, conn.transaction():
        current = await store.decision(conn, found["email_index"], "marketing")
        # Confirms only the authorization this link was sent for, and only while it is the
        # pending one: an old link cannot revive an authorization revoked since.
        if current.refusal is Refusal.UNCONFIRMED:
            await _patient_choice(
                conn, found["contact_id"], "confirm", "confirmation_link", found["id"],
                ("authorization", str(found["id"]), "confirmed"),
            )
    return HTMLResponse(pages.confirmed(_clinic(request)))
