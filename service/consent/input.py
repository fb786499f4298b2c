"""Validation of contact, consent, authorization and suppression bodies. Pure."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from service.consent.policy import PURPOSES
from service.core.fields import address_field, choice, flag, only, text_field, timestamp
from service.core.problems import invalid

# Sources an API client may claim; the two link sources are the patient's own clicks.
API_SOURCES = ("registration_form", "portal", "paper", "api")
SUPPRESSION_REASONS = ("manual", "complaint")


@dataclass(frozen=True, slots=True)
class NewContact:
    email: str
    name: str | None
    external_ref: str | None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConsentChange:
    purpose: str
    action: str
    source: str


@dataclass(frozen=True, slots=True)
class NewAuthorization:
    information_used: str
    used_by: str
    purpose_description: str
    expires_at: dt.datetime | None
    expiry_event: str | None
    signed_at: dt.datetime
    revocation_right_noted: bool
    remuneration: bool
    document_sha256: bytes
    source: str


@dataclass(frozen=True, slots=True)
class NewSuppression:
    email: str
    reason: str


MAX_TAGS = 20
TAG_MAX = 64


def parse_tags(body: dict[str, Any], field: str = "tags") -> tuple[str, ...]:
    """Marketing segments such as ``spring-fair``: case and surrounding blanks do not count."""
    value = body.get(field, [])
    if not isinstance(value, list) or len(value) > MAX_TAGS or not all(
        isinstance(tag, str) and tag.strip() and len(tag) <= TAG_MAX and tag.isprintable()
        for tag in value
    ):
        raise invalid(f"`{field}` must be a list of at most {MAX_TAGS} tags of 1 to {TAG_MAX} "
                      "printable characters", fields=[field])
    return tuple(sorted({tag.strip().casefold() for tag in value}))


def parse_contact(body: dict[str, Any]) -> NewContact:
    only(body, {"email", "name", "external_ref", "tags"}, {"email"})
    return NewContact(
        address_field(body, "email"),
        text_field(body, "name", optional=True),
        text_field(body, "external_ref", optional=True),
        parse_tags(body),
    )


def parse_consent_change(body: dict[str, Any]) -> ConsentChange:
    only(body, {"purpose", "action", "source"}, {"purpose", "action"})
    purpose = choice(body, "purpose", PURPOSES)
    action = choice(body, "action", ("grant", "revoke"))
    if purpose == "marketing" and action == "grant":
        raise invalid(
            "Marketing needs a HIPAA authorization: POST it to /v1/contacts/{id}/authorizations",
            fields=["purpose"],
        )
    source = choice(body, "source", API_SOURCES) if "source" in body else "api"
    return ConsentChange(purpose, action, source)


def parse_authorization(body: dict[str, Any], now: dt.datetime) -> NewAuthorization:
    fields = {
        "information_used", "used_by", "purpose", "expires_at", "expiry_event", "signed_at",
        "revocation_right_noted", "remuneration", "document_sha256", "source",
    }
    required = {
        "information_used", "used_by", "purpose", "signed_at", "revocation_right_noted",
        "remuneration", "document_sha256",
    }
    only(body, fields, required)
    expires_at = timestamp(body, "expires_at", optional=True)
    expiry_event = text_field(body, "expiry_event", optional=True)
    if expires_at is None and expiry_event is None:
        raise invalid("An authorization needs `expires_at` or `expiry_event`",
                      fields=["expires_at", "expiry_event"])
    if expires_at is not None and expires_at <= now:
        raise invalid("`expires_at` is in the past", fields=["expires_at"])
    signed_at = timestamp(body, "signed_at")
    assert signed_at is not None
    if signed_at > now + dt.timedelta(minutes=5):
        raise invalid("`signed_at` is in the future", fields=["signed_at"])
    if flag(body, "revocation_right_noted") is not True:
        raise invalid(
            "The patient must have been told of the right to revoke (45 CFR 164.508(c)(2))",
            fields=["revocation_right_noted"],
        )
    digest = body.get("document_sha256")
    try:
        document = bytes.fromhex(digest) if isinstance(digest, str) else b""
    except ValueError:
        document = b""
    if len(document) != 32:
        raise invalid("`document_sha256` must be 64 hex digits", fields=["document_sha256"])
    source = choice(body, "source", API_SOURCES) if "source" in body else "api"
    return NewAuthorization(
        information_used=str(text_field(body, "information_used")),
        used_by=str(text_field(body, "used_by")),
        purpose_description=str(text_field(body, "purpose")),
        expires_at=expires_at,
        expiry_event=expiry_event,
        signed_at=signed_at,
        revocation_right_noted=True,
        remuneration=flag(body, "remuneration"),
        document_sha256=document,
        source=source,
    )


def parse_suppression(body: dict[str, Any]) -> NewSuppression:
    only(body, {"email", "reason"}, {"email", "reason"})
    return NewSuppression(address_field(body, "email"), choice(body, "reason", SUPPRESSION_REASONS))
