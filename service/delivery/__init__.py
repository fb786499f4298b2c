"""Delivery: the delivery job, the sender (the generic email, SMTP with TLS required), the retry
policy, the relay's rate, a run's lease and recorder, and the outbox sweep. May import core, db,
audit, consent (the check right before sending), messages (a scheduled message's subject, checked
again) and engagement (tracking links).
"""

from service.delivery.preview import EmailPreview, preview_campaign
from service.delivery.return_path import is_return_path_shape, message_of

__all__ = ["EmailPreview", "is_return_path_shape", "message_of", "preview_campaign"]
