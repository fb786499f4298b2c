"""``/v1/messages``: accept one message into the outbox, and report its delivery status."""

from __future__ import annotations

import asyncio
import hmac
import uuid

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
from service.messages.input import (
    MessageRequest,
    canonical_bytes,
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
    # Keyed, so the stored digest of a body holding PHI cannot be confirmed by guessing.
    digest = res.settings.keyring.mac(b"idempotency", canonical_bytes(body))
    if idempotency_key is not None:
        # A replay was checked when first accepted: it answers at once, before any check.
        replay = await _replay(res, key.id, idempotency_key, digest)
        if replay is not None:
            return replay
    index = email_index(res.settings.keyring, message.to, key.index_scope)
    recipient = await consent.recipient_state(res.db, index)
    await SubjectGate.of(request).enforce(
        res.db, res.settings.subject_mode, message.subject, key.organization_id,
        recipient_email=message.to, recipient_names=_known_names(res, recipient),
    )
    await _require_consent(res, key, message, index, recipient)
    verification = None
    if message.verification is not None:
        # scrypt is deliberately slow: keep it off the event loop.
        verification = await asyncio.to_thread(hash_answer, message.verification)
    message_id = await outbox.insert(res.db, res.settings, outbox.Outgoing(
        api_key_id=key.id, purpose=message.purpose, subject=message.subject,
        recipient=message.to, content=message.content, verification_hash=verification,
        idempotency_key=idempotency_key,
        request_digest=digest if idempotency_key is not None else None,
        recipient_index=index,
    ))
    if message_id is None:  # a concurrent request with the same key won the insert
        replay = await _replay(res, key.id, idempotency_key, digest)
        assert replay is not None
        return replay
    await res.nudger.nudge()
    return _accepted(message_id, replayed=False)


def _known_names(res: Resources, recipient: consent.RecipientState) -> tuple[str, ...]:
    """The recipient's name as the clinic recorded it, so a subject cannot carry it."""
    if recipient.contact_id is None or recipient.name_sealed is None:
        return ()
    aad = recipient.contact_id.bytes + b"name"
    return (res.settings.keyring.open(recipient.name_sealed, aad).decode(),)


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


async def _replay(
    res: Resources, api_key_id: uuid.UUID, idempotency_key: str | None, digest: bytes
) -> Response | None:
    existing = await res.db.fetchrow(QUERIES.find_idempotent_message, api_key_id, idempotency_key)
    if existing is None:
        return None
    if not hmac.compare_digest(existing["request_digest"], digest):
        raise Problem(
            422, "idempotency-key-reused", "Idempotency-Key already used",
            "This Idempotency-Key was used with a different request body",
        )
    return _accepted(existing["id"], replayed=True)


def _accepted(message_id: uuid.UUID, *, replayed: bool) -> Response:
    headers = {"Location": paths.MESSAGE.format(message_id=message_id)}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse({"id": str(message_id), "status": "queued"}, 202, headers=headers)


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
        "sent_at": row["sent_at"].isoformat() if row["sent_at"] else None,
        "transport": _transport(row),
    })


def _transport(row: asyncpg.Record) -> dict[str, str] | None:
    """How the delivery was protected; null until the relay took the message."""
    if row["tls_version"] is None:
        return None
    return {
        "tls_version": row["tls_version"], "cipher": row["tls_cipher"],
        "certificate_sha256": row["tls_certificate_sha256"],
        "verified_name": row["tls_verified_name"],
    }
