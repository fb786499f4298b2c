"""Webhooks: an organization's endpoints, the signed event outbox that database triggers fill in
the transaction of each change, and its delivery with retries. May import core, db, audit and
access.
"""

from service.webhooks.deliver import deliver_due, purge
from service.webhooks.events import EVENT_TYPES

__all__ = ["EVENT_TYPES", "deliver_due", "purge"]
