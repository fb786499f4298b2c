"""Aggregate-only engagement: tracking tokens, HyperLogLog counting, the durable counters, reports
with small cells suppressed, the ``/t/`` routes and ``/v1/metrics``. May import core, db, access,
campaigns (ownership) and portal (page layout); other capabilities use what is named here.
"""

from service.engagement.counters import flush
from service.engagement.overview import overview, window
from service.engagement.tokens import mint, new_nonce

__all__ = ["flush", "mint", "new_nonce", "overview", "window"]
