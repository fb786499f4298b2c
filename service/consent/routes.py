"""``/v1/contacts``, consent changes, HIPAA marketing authorizations and ``/v1/suppressions``.

Every change is a new ledger row plus an audit record, written in one transaction. Nothing
here returns an address, a name or a list of contacts: callers get ids and decisions only.
"""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service import audit, messages
from service.access import ApiKey, require
from service.consent import store
from service.consent.input import (
    parse_authorization,
    parse_consent_change,
    parse_contact,
    parse_suppression,
    parse_tags,
)
from service.consent.policy import PURPOSES, Decision
from service.consent.store import tag_mac
from service.consent.terms import seal_terms
from service.core import paths
from service.core.addresses import email_index
from service.core.bodies import read_json_object
from service.core.crypto import new_token, token_hash
from service.core.fields import path_id
from service.core.problems import Problem, invalid
from service.db.queries import QUERIES
from service.db.resources import Resources

_BODY_LIMIT = 16 * 1024


async def create_contact(request: Request) -> Response:
    res: Resources = request.app.state.resources
    key = await require(request, "sender", "marketer")
    contact = parse_contact(await read_json_object(request, _BODY_LIMIT))
    keyring = res.settings.keyring
    index = email_index(keyring, contact.email, key.index_scope)
    contact_id = uuid.uuid4()
    aad = contact_id.bytes
    async with res.db.acquire() as conn, conn.transaction():
        created = await conn.fetchval(
            QUERIES.insert_contact, contact_id, index,
            keyring.seal(contact.email.encode(), aad + b"email"),
            keyring.seal(contact.name.encode(), aad + b"name") if contact.name else None,
            keyring.seal(contact.external_ref.encode(), aad + b"external_ref")
            if contact.external_ref else None,
            key.id, [tag_mac(keyring, tag, key.index_scope) for tag in contact.tags],
            key.organization_id,
        )
        if created is None:
            existing = await conn.fetchval(QUERIES.contact_by_index, index)
            return JSONResponse({"id": str(existing)}, 200)
        await audit.record(conn, actor=key.actor, action="contact.create",
                           object_type="contact", object_id=str(created), outcome="created")
    return JSONResponse({"id": str(created)}, 201,
                        headers={"Location": f"{paths.CONTACTS}/{created}"})


async def set_tags(request: Request) -> Response:
    """Replaces a contact's tags (marketing segments; stored only as keyed digests)."""
    res: Resources = request.app.state.resources
    key = await require(request, "sender", "marketer")
    body = await read_json_object(request, _BODY_LIMIT)
    if set(body) != {"tags"}:
        raise invalid("The body is {\"tags\": [...]}", fields=sorted(set(body) ^ {"tags"}))
    tags = parse_tags(body)
    async with res.db.acquire() as conn, conn.transaction():
        contact_id, _ = await _contact_index(conn, request, key)
        await conn.execute(QUERIES.set_contact_tags, contact_id,
                           [tag_mac(res.settings.keyring, tag, key.index_scope) for tag in tags])
        await audit.record(conn, actor=key.actor, action="contact.tags", object_type="contact",
                           object_id=str(contact_id), outcome="set", detail=f"count={len(tags)}")
    return JSONResponse({"id": str(contact_id), "tags": len(tags)})


async def _contact_index(conn: asyncpg.Connection | asyncpg.Pool, request: Request,
                         key: ApiKey) -> tuple[uuid.UUID, bytes]:
    contact_id = path_id(request, "contact_id")
    index = await conn.fetchval(QUERIES.contact_index, contact_id, key.organization_id)
    if index is None:
        raise Problem(404, "not-found", "Not found")
    return contact_id, index


async def change_consent(request: Request) -> Response:
    res: Resources = request.app.state.resources
    key = await require(request, "sender", "marketer")
    change = parse_consent_change(await read_json_object(request, _BODY_LIMIT))
    if key.role == "marketer" and change.purpose != "marketing":
        raise Problem(403, "forbidden", "Marketers may only record marketing revocations")
    async with res.db.acquire() as conn, conn.transaction():
        contact_id, _ = await _contact_index(conn, request, key)
        event_id = await conn.fetchval(
            QUERIES.insert_consent_event, contact_id, change.purpose, change.action,
            change.source, key.actor, None,
        )
        await audit.record(
            conn, actor=key.actor, action=f"consent.{change.action}", object_type="contact",
            object_id=str(contact_id), outcome="recorded", detail=change.purpose,
        )
    return JSONResponse({"event_id": event_id}, 201)


async def create_authorization(request: Request) -> Response:
    """Records a signed HIPAA marketing authorization and emails the double opt-in link."""
    res: Resources = request.app.state.resources
    key = await require(request, "sender", "marketer")
    new = parse_authorization(
        await read_json_object(request, _BODY_LIMIT), dt.datetime.now(dt.UTC)
    )
    authorization_id = uuid.uuid4()
    token, raw_token = new_token()
    async with res.db.acquire() as conn, conn.transaction():
        contact_id, index = await _contact_index(conn, request, key)
        await conn.execute(
            QUERIES.insert_authorization, authorization_id, contact_id,
            seal_terms(res.settings.keyring, authorization_id, new), new.expires_at,
            new.expiry_event is not None, new.signed_at, new.revocation_right_noted,
            new.remuneration, new.document_sha256, token_hash(raw_token), key.id,
        )
        await conn.execute(
            QUERIES.insert_consent_event, contact_id, "marketing", "grant", new.source,
            key.actor, authorization_id,
        )
        recipient = await _contact_email(res, conn, contact_id)
        await messages.insert(conn, res.settings, messages.Outgoing(
            api_key_id=key.id, purpose="operations", kind="confirmation",
            subject=messages.CONFIRMATION_SUBJECT, recipient=recipient, recipient_index=index,
            link_token=(token, raw_token),
        ))
        await audit.record(
            conn, actor=key.actor, action="authorization.create", object_type="authorization",
            object_id=str(authorization_id), outcome="awaiting_confirmation",
            detail=str(contact_id),
        )
    await res.nudger.nudge()
    return JSONResponse(
        {"id": str(authorization_id), "status": "awaiting_confirmation"}, 201,
    )


async def _contact_email(res: Resources, conn: asyncpg.Connection, contact_id: uuid.UUID) -> str:
    sealed = await conn.fetchval(QUERIES.contact_email, contact_id)
    return res.settings.keyring.open(sealed, contact_id.bytes + b"email").decode()


async def consent_state(request: Request) -> Response:
    res: Resources = request.app.state.resources
    key = await require(request, "sender", "marketer")
    _, index = await _contact_index(res.db, request, key)
    verdicts = await store.decisions(res.db, [(index, p) for p in PURPOSES])
    return JSONResponse({p: _verdict(v) for p, v in zip(PURPOSES, verdicts, strict=True)})


def _verdict(decision: Decision) -> dict[str, object]:
    return {
        "allowed": decision.allowed,
        "reason": decision.refusal.value if decision.refusal else None,
    }


async def create_suppression(request: Request) -> Response:
    res: Resources = request.app.state.resources
    key = await require(request, "sender", "admin")
    new = parse_suppression(await read_json_object(request, _BODY_LIMIT))
    index = email_index(res.settings.keyring, new.email, key.index_scope)
    async with res.db.acquire() as conn, conn.transaction():
        added = await conn.fetchval(QUERIES.insert_suppression, index, new.reason, None)
        if added is not None:
            await audit.record(conn, actor=key.actor, action="suppression.add",
                               object_type="recipient", object_id=index.hex(), outcome=new.reason)
    return JSONResponse({"suppressed": True}, 201 if added is not None else 200)
