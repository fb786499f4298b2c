"""The preference centre's choices: which purposes each one stops, and with which ledger source.
Pure, so the page, the ledger rows and a table test read the one definition.

Treatment is in no choice: messages about the patient's care are not stopped from a link in a
newsletter (the patient can still ask the clinic, which records it through the API).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from service.consent.policy import Decision, Purpose, Refusal

Choice = Literal["marketing", "non_treatment"]
DEFAULT: Choice = "marketing"

STOPS: dict[Choice, tuple[Purpose, ...]] = {
    "marketing": ("marketing",),
    "non_treatment": ("marketing", "operations"),
}

# The marketing row is the one-click's own, so the refusal reads ``unsubscribed`` whichever
# button the patient used (policy.py and migration 0012 key that reason on this source).
SOURCES: dict[Purpose, str] = {
    "marketing": "unsubscribe_link",
    "operations": "preference_centre",
}


def parse_choice(value: str | None) -> Choice | None:
    return next((choice for choice in STOPS if choice == value), None)


def still_open(decision: Decision) -> bool:
    """Whether a revocation would change anything, for a decision read from the ledger alone
    (suppression left out): what is allowed, or a marketing authorization still waiting for its
    confirmation, which the revocation makes unconfirmable."""
    return decision.allowed or decision.refusal is Refusal.UNCONFIRMED


def to_revoke(choice: Choice, ledger: Callable[[Purpose], Decision]) -> list[Purpose]:
    """The purposes of ``choice`` not revoked yet: posting the same choice twice writes once."""
    return [purpose for purpose in STOPS[choice] if still_open(ledger(purpose))]


def in_effect(ledger: Callable[[Purpose], Decision]) -> Choice | None:
    """The widest choice the ledger already carries out, whoever wrote it: what the pages show,
    so they never claim less (or more) than is stopped."""
    done = [choice for choice, purposes in STOPS.items()
            if not any(still_open(ledger(purpose)) for purpose in purposes)]
    return max(done, key=lambda choice: len(STOPS[choice]), default=None)
