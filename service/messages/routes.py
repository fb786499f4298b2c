"""``/v1/messages``: accept one message into the outbox, and report its delivery status."""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import uuid
from collections.abc import Sequence

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service import audit, consent
from service.access import ApiKey, require
from service.core import paths
from service.core.addresses import email_index
from service.core.bodies import read_json_object
from service.core.crypto import hash_answer
from service.core.fields import path_id
from service.core.problems import Problem, invalid, require_marketing
from service.db.queries import QUERIES
from service.db.resources import Resources
from service.messages import outbox
from service.messages.at_send import known_names
from service.messages.group_commit import AcceptBatches
from service.messages.input import (
    MessageRequest,
    canonical_bytes,
    due_time,
    parse_message_request,
    valid_idempotency_key,
)
from service.subjects import SubjectGate


async def create_message(request: Request) -> Response:
    res: Resources = request.app.state.resources
    key = await require(request, "sender")
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is not None and not valid_idempotency_key(idempotency_key):
        raise invalid("Idempotency-Key must be 1 to 255 printable ASCII characters")
    body = await read_json_object(request, res.settings.body_max_bytes)
    message = parse_message_request(body, res.settings.content_max_bytes)
    if message.purpose == "marketing":
        require_marketing(res.settings.marketing_enabled)
    digest = None
    if idempotency_key is not None:
        # Keyed, so the stored digest of a body holding PHI cannot be confirmed by guessing.
        digest = res.settings.keyring.mac(b"idempotency", canonical_bytes(body))
    index = email_index(res.settings.keyring, message.to, key.index_scope)
    batches = AcceptBatches.of(request)
    # One round trip, shared with the requests arriving alongside: the recipient's state, and
    # the key's earlier message under this Idempotency-Key if there is one.
    row = await batches.read((index, key.id, idempotency_key))
    if digest is not None and row["idempotent_id"] is not None:
        # A replay was checked when first accepted: it answers at once, before any check.
        return _replay(row["idempotent_id"], row["idempotent_digest"],
                       row["idempotent_send_at"], digest)
    send_at = due_time(message.send_at, dt.datetime.now(dt.UTC))
    recipient = consent.read_recipient_state(row)
    names = known_names(res.settings.keyring, recipient.contact_id, recipient.name_sealed)
    gate = SubjectGate.of(request)
    await gate.enforce(res.db, res.settings.subject_mode, message.subject, key.organization_id,
                       recipient_email=message.to, recipient_names=names, keep=True)
    if message.verification_hint is not None:
        await _require_generic_hint(res, gate, key, message, names)
    await _require_consent(res, key, message, index, recipient)
    verification = None
    if message.verification is not None:
        # scrypt is deliberately slow: keep it off the event loop.
        verification = await asyncio.to_thread(hash_answer, message.verification)
    message_id = await batches.insert(outbox.row_of(res.settings.keyring, outbox.Outgoing(
        api_key_id=key.id, purpose=message.purpose, subject=message.subject,
        recipient=message.to, content=message.content, verification_hash=verification,
        verification_hint=message.verification_hint,
        verification_format=message.verification_format if verification is not None else None,
        idempotency_key=idempotency_key, request_digest=digest, recipient_index=index,
        send_at=send_at,
    )))
    if message_id is None:  # a concurrent request with the same key won the insert
        assert digest is not None
        existing = await res.db.fetchrow(QUERIES.find_idempotent_message, key.id,
                                         idempotency_key)
        return _replay(existing["id"], existing["request_digest"], existing["send_at"], digest)
    return _accepted(message_id, scheduled=send_at is not None, replayed=False)


async def _require_generic_hint(
    res: Resources, gate: SubjectGate, key: ApiKey, message: MessageRequest,
    names: Sequence[str],
) -> None:
    """Whoever holds the link sees the hint before answering, as anyone may see a subject: it
    passes the subjects' gate, and a refusal names the field and never repeats its text."""
    assert message.verification_hint is not None
    try:
        await gate.enforce(res.db, res.settings.subject_mode, message.verification_hint,
                           key.organization_id, recipient_email=message.to,
                           recipient_names=names)
    except Problem as refused:
        if refused.slug == "subject-not-generic":  # its span then counts in the hint
            refused.title = "The verification hint is not generic"
            refused.extra["fields"] = ["verification_hint"]
        raise


async def _require_consent(
    res: Resources, key: ApiKey, message: MessageRequest, index: bytes,
    recipient: consent.RecipientState,
) -> None:
    verdict = recipient.decide(message.purpose)
    if verdict.allowed:
        return
    assert verdict.refusal is not None
    async with res.db.acquire() as conn, conn.transaction():
        await audit.record(
            conn, actor=key.actor, action="message.refuse", object_type="recipient",
            object_id=index.hex(), outcome=verdict.refusal.value, detail=message.purpose,
        )
    raise Problem(
        422, "consent-required", "Consent required",
        f"No consent on record allows a {message.purpose} email to this address",
        reason=verdict.refusal.value,
    )


def _replay(message_id: uuid.UUID, stored_digest: bytes, send_at: dt.datetime | None,
            digest: bytes) -> Response:
    if not hmac.compare_digest(stored_digest, digest):
        raise Problem(
            422, "idempotency-key-reused", "Idempotency-Key already used",
            "This Idempotency-Key was used with a different request body",
        )
    return _accepted(message_id, scheduled=send_at is not None, replayed=True)


def _accepted(message_id: uuid.UUID, *, scheduled: bool, replayed: bool) -> Response:
    headers = {"Location": paths.MESSAGE.format(message_id=message_id)}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    status = b"scheduled" if scheduled else b"queued"
    # Spelt out rather than through the JSON encoder: the API's commonest answer, and nothing in
    # it needs escaping.
    body = b'{"id":"%s","status":"%s"}' % (str(message_id).encode(), status)
    return Response(body, 202, headers=headers, media_type="application/json")


async def get_message(request: Request) -> Response:
    res: Resources = request.app.state.resources
    key = await require(request, "sender")
    row = await res.db.fetchrow(QUERIES.message_status, path_id(request, "message_id"), key.id)
    if row is None:
        raise Problem(404, "not-found", "Not found")
    return JSONResponse({
        "id": str(row["id"]),
        "purpose": row["purpose"],
        "status": row["status"],
        "attempts": row["attempts"],
        "last_error_class": row["last_error_class"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "send_at": row["send_at"].isoformat() if row["send_at"] else None,
        "sent_at": row["sent_at"].isoformat() if row["sent_at"] else None,
        "transport": _transport(row),
    })


async def cancel_message(request: Request) -> Response:
    """Withdraws a message no worker has claimed yet. Cancelling twice answers the same."""
    res: Resources = request.app.state.resources
    key = await require(request, "sender")
    message_id = path_id(request, "message_id")
    async with res.db.acquire() as conn, conn.transaction():
        cancelled = await conn.fetchrow(QUERIES.cancel_message, message_id, key.id)
        if cancelled is not None:
            await audit.record(
                conn, actor=key.actor, action="message.cancel", object_type="message",
                object_id=str(message_id), outcome="cancelled", detail=cancelled["purpose"],
            )
    if cancelled is None:
        row = await res.db.fetchrow(QUERIES.message_status, message_id, key.id)
        if row is None:
            raise Problem(404, "not-found", "Not found")
        if row["status"] != "cancelled":
            raise Problem(
                409, "message-not-cancellable", "The message can no longer be cancelled",
                f"Only a scheduled or queued message can be cancelled; this one is "
                f"{row['status']}", message_status=row["status"],
            )
    return JSONResponse({"id": str(message_id), "status": "cancelled"})


def _transport(row: asyncpg.Record) -> dict[str, str] | None:
    """How the delivery was protected; null until the relay took the message."""
    if row["tls_version"] is None:
        return None
    return {
        "tls_version": row["tls_version"], "cipher": row["tls_cipher"],
        "certificate_sha256": row["tls_certificate_sha256"],
        "verified_name": row["tls_verified_name"],
    }
