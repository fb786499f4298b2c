"""Validation of ``POST /v1/messages`` bodies. Pure: problems name fields, never echo values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from service.consent import PURPOSES
from service.core.fields import address_field, choice, only
from service.core.problems import Problem, invalid

_FIELDS = {"to", "purpose", "subject", "content", "verification"}
MAX_VERIFICATION_CHARS = 200


@dataclass(frozen=True, slots=True)
class MessageRequest:
    to: str
    purpose: str
    subject: str
    content: str
    verification: str | None


def parse_message_request(body: dict[str, Any], content_max_bytes: int) -> MessageRequest:
    only(body, _FIELDS, ("to", "purpose", "subject", "content"))
    # Only `verification` may be null (no question asked).
    not_strings = sorted(
        f for f in _FIELDS if f in body and not isinstance(body[f], str)
        and not (f == "verification" and body[f] is None)
    )
    if not_strings:
        raise invalid("These fields must be strings", fields=not_strings)
    to = address_field(body, "to")
    purpose = choice(body, "purpose", PURPOSES)
    content = body["content"]
    if not content.strip():
        raise invalid("`content` must not be empty", fields=["content"])
    if len(content.encode()) > content_max_bytes:
        raise Problem(
            413, "content-too-large", "The message content is too large",
            f"`content` may be at most {content_max_bytes} bytes",
        )
    verification = body.get("verification")
    if verification is not None and not (0 < len(verification.strip()) <= MAX_VERIFICATION_CHARS):
        raise invalid(
            f"`verification` must have 1 to {MAX_VERIFICATION_CHARS} characters",
            fields=["verification"],
        )
    return MessageRequest(to, purpose, body["subject"], content, verification)


def canonical_bytes(body: dict[str, Any]) -> bytes:
    """Equal JSON bodies give equal bytes whatever their key order or spacing."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def valid_idempotency_key(key: str) -> bool:
    return 0 < len(key) <= 255 and key.isprintable() and key.isascii()


