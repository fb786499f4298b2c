"""The event types a webhook endpoint may subscribe to, defined once: the API's validation, the
OpenAPI enum and the README are checked against this tuple (tests/test_webhooks_api.py), and the
database triggers (migrations/0021_webhooks.sql) produce exactly these.

Every payload is PHI-free: ids, statuses, reason classes and times, never an address, subject,
content, token or name.
"""

from __future__ import annotations

EVENT_TYPES: tuple[str, ...] = (
    "message.sent",
    "message.retrying",
    "message.failed",
    "message.bounced",
    "message.rejected",
    "complaint.received",
    "consent.revoked",
    "campaign.finished",
)
