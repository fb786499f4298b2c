"""Single sends: validating ``POST /v1/messages``, idempotency, and the transactional outbox that
seals a message's PHI into its row. May import core, db, audit, access, consent and subjects;
other capabilities write outgoing mail through what is named here.
"""

from service.messages.outbox import CONFIRMATION_SUBJECT, Outgoing, insert

__all__ = ["CONFIRMATION_SUBJECT", "Outgoing", "insert"]
