"""Validation of ``POST /v1/messages`` bodies. Pure: problems name fields, never echo values."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from service.consent import PURPOSES
from service.core.answers import FORMATS, iso_date
from service.core.crypto import normalise_answer
from service.core.fields import address_field, choice, only, text_field
from service.core.problems import Problem, invalid

_FIELDS = {"to", "purpose", "subject", "content", "verification", "verification_hint",
           "verification_format", "send_at"}
# Fields that may be null: no question asked, no hint, no schedule.
_NULLABLE = {"verification", "verification_hint", "send_at"}
MAX_VERIFICATION_CHARS = 200
MAX_HINT_CHARS = 80
# Reminders go out a day or a week ahead; a month bounds how long PHI waits sealed for a send,
# and catches a mistyped year.
MAX_SCHEDULE_AHEAD = dt.timedelta(days=30)
# A send_at this far in the past (clocks apart, a request retried after a timeout) is sent at
# once; one further back is refused: a reminder for a time gone by is a caller's mistake.
MAX_SCHEDULE_BEHIND = dt.timedelta(minutes=5)
# RFC 3339 date-time: the offset (or Z) is required, so a time is never read in the wrong zone.
_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
                      r"([Zz]|[+-][0-9]{2}:[0-9]{2})")


@dataclass(frozen=True, slots=True)
class MessageRequest:
    to: str
    purpose: str
    subject: str
    content: str
    # The answer as it is hashed: for a date, its YYYY-MM-DD.
    verification: str | None
    send_at: dt.datetime | None = None
    # What the patient is asked ("your date of birth"), shown to whoever holds the link.
    verification_hint: str | None = None
    verification_format: str = "text"


def parse_message_request(body: dict[str, Any], content_max_bytes: int) -> MessageRequest:
    only(body, _FIELDS, ("to", "purpose", "subject", "content"))
    not_strings = sorted(
        f for f in _FIELDS if f in body and not isinstance(body[f], str)
        and not (f in _NULLABLE and body[f] is None)
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
    verification, hint, answer_format = _verification(body)
    send_at = body.get("send_at")
    return MessageRequest(to, purpose, body["subject"], content, verification,
                          None if send_at is None else _rfc3339(send_at), hint, answer_format)


def _verification(body: dict[str, Any]) -> tuple[str | None, str | None, str]:
    """The answer (a date's as YYYY-MM-DD), the hint and the format."""
    verification = body.get("verification")
    if verification is None:
        asked = sorted({"verification_hint", "verification_format"} & {
            f for f in body if body[f] is not None})
        if asked:
            raise invalid("These fields need a `verification` answer", fields=asked)
        return None, None, "text"
    if not 0 < len(verification.strip()) <= MAX_VERIFICATION_CHARS:
        raise invalid(
            f"`verification` must have 1 to {MAX_VERIFICATION_CHARS} characters",
            fields=["verification"],
        )
    answer_format = (choice(body, "verification_format", FORMATS)
                     if "verification_format" in body else "text")
    # The hint is shown before the question is answered: it must not give the answer away, nor
    # a date's year, whichever way the date is written in it.
    giveaways = {normalise_answer(verification)}
    if answer_format == "date":
        date = iso_date(verification.strip())
        if date is None:
            raise invalid("With `verification_format` date, `verification` must be a real "
                          "date written YYYY-MM-DD", fields=["verification"])
        verification = date.isoformat()
        giveaways.add(f"{date.year:04}")
    hint = text_field(body, "verification_hint", MAX_HINT_CHARS, optional=True)
    if hint is not None and any(part in normalise_answer(hint) for part in giveaways):
        raise invalid("`verification_hint` must not contain the answer",
                      fields=["verification_hint"])
    return verification, hint, answer_format


def _rfc3339(value: str) -> dt.datetime:
    if _RFC3339.fullmatch(value):
        try:
            return dt.datetime.fromisoformat(value.upper())
        except ValueError:  # well formed, but no such day or time
            pass
    raise invalid("`send_at` must be an RFC 3339 date-time with an offset, such as "
                  "2026-03-14T09:30:00-05:00", fields=["send_at"])


def due_time(send_at: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    """When a message is due: None for at once. Checked against the clock apart from parsing, so
    an idempotent replay of an accepted schedule is answered whatever the time now."""
    if send_at is None:
        return None
    if send_at > now + MAX_SCHEDULE_AHEAD:
        raise invalid(f"`send_at` may be at most {MAX_SCHEDULE_AHEAD.days} days ahead",
                      fields=["send_at"])
    if send_at < now - MAX_SCHEDULE_BEHIND:
        raise invalid("`send_at` lies in the past", fields=["send_at"])
    return send_at if send_at > now else None


def canonical_bytes(body: dict[str, Any]) -> bytes:
    """Equal JSON bodies give equal bytes whatever their key order or spacing."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def valid_idempotency_key(key: str) -> bool:
    return 0 < len(key) <= 255 and key.isprintable() and key.isascii()


