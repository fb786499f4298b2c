"""What a report mailed to a return path says, read with the standard library's ``email``.

Pure: bytes in, a ``Report`` out. RFC 3464 delivery status notifications give an action and a
status per recipient; RFC 5965 (ARF) feedback reports give a feedback type and carry the
original message, whose ``Return-Path`` names the message when the report was sent elsewhere.
Anything else is ``unparsed`` with a reason; nothing here raises on hostile input.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage, Message
from enum import Enum

_STATUS = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})")
# The email package's parameter and part parsing is quadratic: a 750 kB header of ``; a=b``
# took 91 s. Real reports have a few kB of headers, three or four parts and a few dozen
# parameters, so anything far past these is refused before it is parsed.
MAX_HEADER_BYTES = 32 * 1024
MAX_BOUNDARY_LINES = 50
MAX_PARAMETERS = 2000


class Kind(Enum):
    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    DELAYED = "delayed"  # a DSN saying "still trying": nothing to do
    COMPLAINT = "complaint"
    UNPARSED = "unparsed"


@dataclass(frozen=True, slots=True)
class Report:
    kind: Kind
    # The enhanced status (5.1.1) of a bounce, or the feedback type (abuse) of a complaint.
    detail: str | None = None
    # The failed recipient the DSN names (for matching against the message), lower-cased.
    final_recipient: str | None = None
    # Return paths found inside the report (the original message's Return-Path).
    return_paths: tuple[str, ...] = ()
    reason: str | None = None


def read(data: bytes) -> Report:
    ends = [n for n in (data.find(b"\r\n\r\n"), data.find(b"\n\n")) if n >= 0]
    header_bytes = min(ends, default=len(data))
    if (header_bytes > MAX_HEADER_BYTES or data.count(b"\n--") > MAX_BOUNDARY_LINES
            or data.count(b";") > MAX_PARAMETERS):
        return Report(Kind.UNPARSED, reason="too complex to be a report")
    try:
        return _read(data)
    except Exception:
        # The email package fails on hostile input in more ways than it documents.
        return Report(Kind.UNPARSED, reason="unreadable")


def _read(data: bytes) -> Report:
    message = email.message_from_bytes(data, policy=email.policy.default)
    if message.get_content_type() != "multipart/report":
        return Report(Kind.UNPARSED, reason="not multipart/report")
    report_type = (message.get_param("report-type") or "")
    if not isinstance(report_type, str):
        return Report(Kind.UNPARSED, reason="report-type unreadable")
    parts: list[Message] = list(message.iter_parts()) if isinstance(message, EmailMessage) else []
    if report_type.lower() == "delivery-status":
        return _dsn(parts)
    if report_type.lower() == "feedback-report":
        return _arf(parts)
    return Report(Kind.UNPARSED, reason="unknown report-type")


def _dsn(parts: list[Message]) -> Report:
    status_part = next((p for p in parts if p.get_content_type() in (
        "message/delivery-status", "message/global-delivery-status")), None)
    if status_part is None:
        return Report(Kind.UNPARSED, reason="no delivery-status part")
    fields = _status_groups(status_part)
    # Per-recipient groups follow the per-message group; ours have exactly one recipient.
    recipients = [f for f in fields[1:] if "action" in f]
    if len(recipients) != 1:
        return Report(Kind.UNPARSED, reason="not exactly one recipient")
    group = recipients[0]
    action = group.get("action", "").lower()
    found = _STATUS.search(group.get("status", ""))
    status = found.group(0) if found else None
    final = group.get("final-recipient", "")
    address = final.partition(";")[2].strip().lower() or None
    original = _original_return_paths(parts)
    if action == "failed" and status and status.startswith("5"):
        return Report(Kind.HARD_BOUNCE, status, address, original)
    if action == "failed" and status and status.startswith("4"):
        return Report(Kind.SOFT_BOUNCE, status, address, original)
    if action in ("delayed", "relayed", "delivered", "expanded"):
        return Report(Kind.DELAYED, status, address, original)
    return Report(Kind.UNPARSED, reason="no usable action and status")


def _arf(parts: list[Message]) -> Report:
    feedback = next((p for p in parts if p.get_content_type() == "message/feedback-report"), None)
    if feedback is None:
        return Report(Kind.UNPARSED, reason="no feedback-report part")
    groups = _status_groups(feedback)
    first = groups[0] if groups else {}
    feedback_type = first.get("feedback-type", "").lower()
    if not feedback_type:
        return Report(Kind.UNPARSED, reason="no Feedback-Type")
    if feedback_type not in ("abuse", "fraud", "virus", "other"):
        # auth-failure, not-spam: no statement by the recipient against our mail.
        return Report(Kind.UNPARSED, reason="feedback-type is not a complaint")
    return Report(Kind.COMPLAINT, feedback_type, None, _original_return_paths(parts))


def _status_groups(part: Message) -> list[dict[str, str]]:
    """The header-like groups of a delivery-status or feedback-report body."""
    payload = part.get_payload()
    if isinstance(payload, list):  # the email package parsed the groups as messages
        return [{k.lower(): str(v) for k, v in p.items()} for p in payload
                if isinstance(p, Message)]
    text = part.get_payload(decode=True)
    if not isinstance(text, bytes):
        return []
    groups: list[dict[str, str]] = [{}]
    for raw in text.decode("utf-8", "replace").splitlines():
        if not raw.strip():
            if groups[-1]:
                groups.append({})
            continue
        if raw[:1] in " \t" and groups[-1]:
            last = next(reversed(groups[-1]))
            groups[-1][last] += " " + raw.strip()
            continue
        name, sep, value = raw.partition(":")
        if sep:
            groups[-1][name.strip().lower()] = value.strip()
    return [g for g in groups if g]


def _original_return_paths(parts: list[Message]) -> tuple[str, ...]:
    found = []
    for part in parts:
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers",
                                       "message/rfc822-headers"):
            headers = _embedded_headers(part)
            for value in headers.get_all("Return-Path", []) if headers else []:
                found.append(str(value).strip().strip("<>").lower())
    return tuple(found)


def _embedded_headers(part: Message) -> Message | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        return None
    return email.message_from_bytes(raw, policy=email.policy.default)
