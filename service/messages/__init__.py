"""Single sends: validating ``POST /v1/messages``, idempotency, and the transactional outbox that
seals a message's PHI into its row, scheduled sends and their cancellation, and the subject
check made again when a scheduled message comes due. May import core, db, audit, access, consent
and subjects; other capabilities write outgoing mail through what is named here.
"""

from service.messages.at_send import SubjectRecheck
from service.messages.outbox import CONFIRMATION_SUBJECT, Outgoing, insert

__all__ = ["CONFIRMATION_SUBJECT", "Outgoing", "SubjectRecheck", "insert"]
