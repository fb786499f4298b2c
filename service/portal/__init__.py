"""The patient's secure-message pages (``/p/``), their layout and static assets, and the lookup
of the message a link names. May import core, db and audit; consent and engagement use what is
named here for their own patient-facing pages.
"""

from service.portal.layout import brand, contact, document, page, reach
from service.portal.links import find_message
from service.portal.pages import STATIC_DIR, link_unavailable

__all__ = [
    "STATIC_DIR", "brand", "contact", "document", "find_message", "link_unavailable", "page",
    "reach",
]
