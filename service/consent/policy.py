"""Whether a send is allowed: purpose x consent ledger x authorization x suppression. Pure.

- Treatment and operations: allowed unless the address is suppressed or the contact revoked
  email for that purpose (HIPAA lets a provider email its own patients for care and operations;
  the patient can still say no).
- Marketing: needs a HIPAA marketing authorization (45 CFR 164.508) that was granted, confirmed
  by the patient (double opt-in) after the grant, is not expired, and has not been revoked or
  unsubscribed since; and the address must not be suppressed.

The ledger is append-only; the state is always derived from every event, in order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Purpose = Literal["treatment", "operations", "marketing"]
# Every send names one; the order is the order the API documents them in.
PURPOSES: tuple[Purpose, ...] = ("treatment", "operations", "marketing")


class Refusal(StrEnum):
    SUPPRESSED = "suppressed"
    OPTED_OUT = "opted_out"
    NO_AUTHORIZATION = "no_authorization"
    UNCONFIRMED = "authorization_unconfirmed"
    EXPIRED = "authorization_expired"
    REVOKED = "authorization_revoked"
    UNSUBSCRIBED = "unsubscribed"


@dataclass(frozen=True, slots=True)
class Authorization:
    id: uuid.UUID
    expires_at: dt.datetime | None
    # Ends when something happens (its wording is sealed); the clinic records the revocation.
    ends_on_event: bool


@dataclass(frozen=True, slots=True)
class ConsentEvent:
    purpose: str
    action: str  # grant | confirm | revoke
    source: str
    at: dt.datetime
    authorization: Authorization | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    refusal: Refusal | None = None


ALLOW = Decision(True)


def decide(
    purpose: str, events: Sequence[ConsentEvent], suppressed: bool, now: dt.datetime
) -> Decision:
    """``events`` are one contact's ledger in the order they were written (empty: no contact)."""
    if suppressed:
        return Decision(False, Refusal.SUPPRESSED)
    own = [e for e in events if e.purpose == purpose]
    if purpose != "marketing":
        last = next((e for e in reversed(own) if e.action in ("grant", "revoke")), None)
        if last is not None and last.action == "revoke":
            return Decision(False, Refusal.OPTED_OUT)
        return ALLOW
    return _marketing(own, now)


def _marketing(events: Sequence[ConsentEvent], now: dt.datetime) -> Decision:
    grant_at = max((i for i, e in enumerate(events) if e.action == "grant"), default=None)
    if grant_at is None:
        return Decision(False, Refusal.NO_AUTHORIZATION)
    grant = events[grant_at]
    later = events[grant_at + 1 :]
    revocation = next((e for e in later if e.action == "revoke"), None)
    if revocation is not None:
        unsubscribed = revocation.source == "unsubscribe_link"
        return Decision(False, Refusal.UNSUBSCRIBED if unsubscribed else Refusal.REVOKED)
    authorization = grant.authorization
    if authorization is None:
        return Decision(False, Refusal.NO_AUTHORIZATION)
    if authorization.expires_at is not None and authorization.expires_at <= now:
        return Decision(False, Refusal.EXPIRED)
    confirmed = any(
        e.action == "confirm" and e.authorization is not None
        and e.authorization.id == authorization.id
        for e in later
    )
    if not confirmed:
        return Decision(False, Refusal.UNCONFIRMED)
    return ALLOW
