"""The consent decision as a table: purpose x ledger state x expiry x suppression."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from service.consent.policy import Authorization, ConsentEvent, Refusal, decide

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
AUTH = Authorization(uuid.uuid4(), expires_at=NOW + dt.timedelta(days=365), ends_on_event=False)
EXPIRED = Authorization(uuid.uuid4(), expires_at=NOW - dt.timedelta(seconds=1), ends_on_event=False)
BY_EVENT = Authorization(uuid.uuid4(), expires_at=None, ends_on_event=True)
OTHER = Authorization(uuid.uuid4(), expires_at=None, ends_on_event=True)


def ev(purpose: str, action: str, minute: int, auth: Authorization | None = None,
       source: str = "api") -> ConsentEvent:
    return ConsentEvent(purpose, action, source, NOW - dt.timedelta(minutes=60 - minute), auth)


GRANTED = [ev("marketing", "grant", 1, AUTH), ev("marketing", "confirm", 2, AUTH)]

CASES = [
    # purpose, events, suppressed, expected refusal (None = allowed)
    ("treatment", [], False, None),
    ("operations", [], False, None),
    ("treatment", [], True, Refusal.SUPPRESSED),
    ("operations", [], True, Refusal.SUPPRESSED),
    ("treatment", [ev("treatment", "revoke", 1)], False, Refusal.OPTED_OUT),
    ("treatment", [ev("treatment", "revoke", 1), ev("treatment", "grant", 2)], False, None),
    ("treatment", [ev("treatment", "grant", 1), ev("treatment", "revoke", 2)], False,
     Refusal.OPTED_OUT),
    ("operations", [ev("treatment", "revoke", 1)], False, None),  # per purpose
    ("treatment", [ev("marketing", "revoke", 1, source="unsubscribe_link")], False, None),
    ("treatment", GRANTED, True, Refusal.SUPPRESSED),
    ("marketing", [], False, Refusal.NO_AUTHORIZATION),
    ("marketing", [ev("treatment", "grant", 1)], False, Refusal.NO_AUTHORIZATION),
    ("marketing", [ev("marketing", "grant", 1, AUTH)], False, Refusal.UNCONFIRMED),
    ("marketing", GRANTED, False, None),
    ("marketing", GRANTED, True, Refusal.SUPPRESSED),
    ("marketing", [ev("marketing", "grant", 1, EXPIRED), ev("marketing", "confirm", 2, EXPIRED)],
     False, Refusal.EXPIRED),
    ("marketing", [ev("marketing", "grant", 1, BY_EVENT), ev("marketing", "confirm", 2, BY_EVENT)],
     False, None),
    ("marketing", [*GRANTED, ev("marketing", "revoke", 3)], False, Refusal.REVOKED),
    ("marketing", [*GRANTED, ev("marketing", "revoke", 3, source="unsubscribe_link")], False,
     Refusal.UNSUBSCRIBED),
    # A new, confirmed authorization after a revocation counts again.
    ("marketing", [*GRANTED, ev("marketing", "revoke", 3), ev("marketing", "grant", 4, BY_EVENT),
                   ev("marketing", "confirm", 5, BY_EVENT)], False, None),
    # ... but not while unconfirmed, and an old confirmation does not carry over.
    ("marketing", [*GRANTED, ev("marketing", "revoke", 3), ev("marketing", "grant", 4, BY_EVENT)],
     False, Refusal.UNCONFIRMED),
    # A confirmation of another authorization does not confirm this one.
    ("marketing", [ev("marketing", "grant", 1, AUTH), ev("marketing", "confirm", 2, OTHER)],
     False, Refusal.UNCONFIRMED),
    # Confirmation before the grant it names cannot count.
    ("marketing", [ev("marketing", "confirm", 1, AUTH), ev("marketing", "grant", 2, AUTH)],
     False, Refusal.UNCONFIRMED),
    ("marketing", [ev("marketing", "grant", 1, None)], False, Refusal.NO_AUTHORIZATION),
    # Opting out of treatment email does not touch marketing, and the other way round.
    ("marketing", [*GRANTED, ev("treatment", "revoke", 3)], False, None),
]


@pytest.mark.parametrize(("purpose", "events", "suppressed", "refusal"), CASES)
def test_decision(
    purpose: str, events: list[ConsentEvent], suppressed: bool, refusal: Refusal | None
) -> None:
    decision = decide(purpose, events, suppressed, NOW)
    assert decision.allowed is (refusal is None)
    assert decision.refusal == refusal


def test_expiry_is_checked_at_the_time_of_the_decision() -> None:
    soon = Authorization(uuid.uuid4(), expires_at=NOW + dt.timedelta(hours=1), ends_on_event=False)
    events = [ev("marketing", "grant", 1, soon), ev("marketing", "confirm", 2, soon)]
    assert decide("marketing", events, False, NOW).allowed
    later = NOW + dt.timedelta(hours=1)
    assert decide("marketing", events, False, later).refusal is Refusal.EXPIRED
