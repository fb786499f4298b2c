"""Inbound: the SMTP listener for bounces (RFC 3464) and complaints (RFC 5965) sent to our
per-message return paths, the pure reading of those reports, and what they change. May import
core, db, audit and delivery (the return path); cli runs it, http reports its counts.
"""

from service.inbound.apply import OUTCOMES

__all__ = ["OUTCOMES"]
