"""``/u/{token}`` the preference centre with RFC 8058 one-click unsubscribe, and ``/c/{token}``
double opt-in confirmation.

GET pages only ask: link scanners prefetch URLs, and a prefetch must neither unsubscribe nor
confirm anyone. POST acts at once, with no cookie or login: the token in the URL is the
credential. Every POST is idempotent and leaves a ledger row and an audit record per change.

The one-click POST to ``/u/{token}`` is what mail providers' own buttons send: it stops marketing
only, whatever the page offers. The page's form posts to ``/u/{token}/preferences`` instead, with
the patient's choice (``choices.py``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence

import asyncpg
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from service import audit
from service.consent import choices, pages, store
from service.consent.policy import ConsentEvent, Decision, Purpose, Refusal, decide
from service.core import paths
from service.core.bodies import read_form
from service.core.clinic import Clinic
from service.core.crypto import decode_token, token_hash
from service.db.queries import QUERIES
from service.db.resources import Resources
from service.portal import find_message, link_unavailable

_FORM_LIMIT = 1024
# The audit outcome of each revocation: the refusal it makes.
_OUTCOMES: dict[Purpose, Refusal] = {"marketing": Refusal.UNSUBSCRIBED,
                                     "operations": Refusal.OPTED_OUT}


def _clinic(request: Request) -> Clinic:
    resources: Resources = request.app.state.resources
    return resources.settings.clinic


def _unavailable(request: Request) -> Response:
    return HTMLResponse(link_unavailable(_clinic(request)), status_code=404)


async def _patient_choice(
    conn: asyncpg.Connection, contact_id: uuid.UUID, purpose: Purpose, action: str, source: str,
    authorization_id: uuid.UUID | None, audited: tuple[str, str, str], detail: str | None = None,
) -> None:
    """A ledger row the patient's own click wrote, and its audit record."""
    await conn.execute(QUERIES.insert_consent_event, contact_id, purpose, action, source,
                       "patient", authorization_id)
    object_type, object_id, outcome = audited
    await audit.record(conn, actor="patient", action=f"consent.{action}",
                       object_type=object_type, object_id=object_id, outcome=outcome,
                       detail=detail)


def _ledger(events: Sequence[ConsentEvent]) -> Callable[[Purpose], Decision]:
    """Decisions from the patient's ledger alone: a suppression stops every email already, but
    says nothing about what the patient chose."""
    now = dt.datetime.now(dt.UTC)
    return lambda purpose: decide(purpose, events, False, now)


async def _target(res: Resources, token: str) -> asyncpg.Record | None:
    raw = decode_token(token)
    return None if raw is None else await find_message(
        res.db, res.settings.keyring, raw, b"unsubscribe", QUERIES.unsubscribe_target
    )


async def _posted(request: Request) -> tuple[Resources, str, dict[str, str]]:
    """The link's token and the posted form, read within its cap whatever it says."""
    form = await read_form(request, _FORM_LIMIT)
    return request.app.state.resources, request.path_params["token"], form


def _centre(request: Request, token: str, selected: choices.Choice, error: bool = False) -> str:
    action = paths.link("", paths.PREFERENCES, token)
    return pages.preference_centre(_clinic(request), action, selected, error)


async def unsubscribe_page(request: Request) -> Response:
    res: Resources = request.app.state.resources
    token = request.path_params["token"]
    target = await _target(res, token)
    if target is None or target["contact_id"] is None:
        return _unavailable(request)
    state = await store.recipient_state(res.db, target["recipient_index"])
    # What the ledger already stops is what the form starts from.
    selected = choices.in_effect(_ledger(state.events)) or choices.DEFAULT
    return HTMLResponse(_centre(request, token, selected))


async def unsubscribe(request: Request) -> Response:
    # RFC 8058 sends "List-Unsubscribe=One-Click"; whatever else is posted, marketing only.
    res, token, _ = await _posted(request)
    target = await _target(res, token)
    if target is None:
        return _unavailable(request)
    async with res.db.acquire() as conn, conn.transaction():
        current = await store.decision(conn, target["recipient_index"], "marketing")
        if target["contact_id"] is not None and current.allowed:
            await _patient_choice(
                conn, target["contact_id"], "marketing", "revoke", "unsubscribe_link", None,
                ("contact", str(target["contact_id"]), "unsubscribed"),
                detail=f"message:{target['message_id']}",
            )
    return HTMLResponse(pages.unsubscribed(_clinic(request)))


async def save_preferences(request: Request) -> Response:
    res, token, form = await _posted(request)
    target = await _target(res, token)
    if target is None or target["contact_id"] is None:
        return _unavailable(request)
    choice = choices.parse_choice(form.get("choice"))
    if choice is None:
        return HTMLResponse(_centre(request, token, choices.DEFAULT, error=True), status_code=422)
    contact_id = target["contact_id"]
    async with res.db.acquire() as conn, conn.transaction():
        # One contact's choices one at a time, so a form sent twice at once writes its rows once.
        await conn.execute(QUERIES.lock_contact, contact_id)
        before = await store.recipient_state(conn, target["recipient_index"])
        for purpose in choices.to_revoke(choice, _ledger(before.events)):
            await _patient_choice(
                conn, contact_id, purpose, "revoke", choices.SOURCES[purpose], None,
                ("contact", str(contact_id), _OUTCOMES[purpose].value),
                detail=f"{purpose} message:{target['message_id']}",
            )
        after = await store.recipient_state(conn, target["recipient_index"])
    in_effect = choices.in_effect(_ledger(after.events)) or choice
    again = paths.link("", paths.UNSUBSCRIBE, token)
    return HTMLResponse(pages.preferences_saved(_clinic(request), in_effect, again))


async def confirm_page(request: Request) -> Response:
    return HTMLResponse(pages.confirm_landing(_clinic(request)))


async def confirm(request: Request) -> Response:
    res, token, _ = await _posted(request)
    raw = decode_token(token)
    found = await res.db.fetchrow(
        QUERIES.authorization_by_confirm_token, token_hash(raw)
    ) if raw else None
    if found is None:
        return _unavailable(request)
    async with res.db.acquire() as conn, conn.transaction():
        current = await store.decision(conn, found["email_index"], "marketing")
        # Confirms only the authorization this link was sent for, and only while it is the
        # pending one: an old link cannot revive an authorization revoked since.
        if current.refusal is Refusal.UNCONFIRMED:
            await _patient_choice(
                conn, found["contact_id"], "marketing", "confirm", "confirmation_link",
                found["id"], ("authorization", str(found["id"]), "confirmed"),
            )
    return HTMLResponse(pages.confirmed(_clinic(request)))
