"""Consent: the append-only ledger, HIPAA marketing authorizations and their double opt-in,
suppressions, contacts and their tags, and the patient's unsubscribe and confirm pages. May
import core, db, audit, access, messages (the confirmation email) and portal (page layout and
link lookup); other capabilities use what is named here.
"""

from service.consent.input import parse_tags
from service.consent.policy import PURPOSES, Decision, Purpose, Refusal
from service.consent.store import (
    RecipientState,
    decision,
    decisions,
    read_recipient_state,
    recipient_state,
    recipient_state_rows,
    tag_mac,
)

__all__ = [
    "PURPOSES", "Decision", "Purpose", "RecipientState", "Refusal", "decision", "decisions",
    "parse_tags", "read_recipient_state", "recipient_state",
    "recipient_state_rows", "tag_mac",
]
