"""The whole route table, built from the paths in ``core/paths.py``, and what the access log
must redact, derived from it."""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from service.admin import dashboard
from service.campaigns import routes as campaigns
from service.consent import preferences
from service.consent import routes as contacts
from service.core import paths as p
from service.engagement import routes as metrics
from service.engagement import tracking
from service.http import health, prometheus
from service.messages import routes as messages
from service.portal import STATIC_DIR, secure_message
from service.subjects import routes as subjects

_PARAMETER = re.compile(r"\{(\w+)(?::\w+)?\}")


def route_table() -> list[BaseRoute]:
    return [
        Route(p.HEALTHZ, health.healthz, methods=["GET"]),
        Route(p.READYZ, health.readyz, methods=["GET"]),
        Route(p.OPENAPI, health.openapi, methods=["GET"]),
        Route(p.MESSAGES, messages.create_message, methods=["POST"]),
        Route(p.MESSAGE, messages.get_message, methods=["GET"]),
        Route(p.CONTACTS, contacts.create_contact, methods=["POST"]),
        Route(p.CONTACT_CONSENTS, contacts.change_consent, methods=["POST"]),
        Route(p.CONTACT_AUTHORIZATIONS, contacts.create_authorization, methods=["POST"]),
        Route(p.CONTACT_CONSENT, contacts.consent_state, methods=["GET"]),
        Route(p.CONTACT_TAGS, contacts.set_tags, methods=["PUT"]),
        Route(p.SUPPRESSIONS, contacts.create_suppression, methods=["POST"]),
        Route(p.CAMPAIGNS, campaigns.create_campaign, methods=["POST"]),
        Route(p.CAMPAIGN, campaigns.get_campaign, methods=["GET"]),
        Route(p.CAMPAIGN_AUDIENCE, campaigns.upload_audience, methods=["POST"]),
        Route(p.CAMPAIGN_SEND, campaigns.send_campaign, methods=["POST"]),
        Route(p.CAMPAIGN_PAUSE, campaigns.pause_campaign, methods=["POST"]),
        Route(p.CAMPAIGN_RESUME, campaigns.resume_campaign, methods=["POST"]),
        Route(p.CAMPAIGN_CANCEL, campaigns.cancel_campaign, methods=["POST"]),
        Route(p.CAMPAIGN_METRICS, metrics.campaign_metrics, methods=["GET"]),
        Route(p.METRICS, metrics.all_metrics, methods=["GET"]),
        Route(p.APPROVED_SUBJECTS, subjects.list_subjects, methods=["GET"]),
        Route(p.APPROVED_SUBJECTS, subjects.add_subject, methods=["POST"]),
        Route(p.APPROVED_SUBJECT, subjects.remove_subject, methods=["DELETE"]),
        Route(p.PORTAL, secure_message.show_landing, methods=["GET"]),
        Route(p.PORTAL, secure_message.reveal, methods=["POST"]),
        Route(p.UNSUBSCRIBE, preferences.unsubscribe_page, methods=["GET"]),
        Route(p.UNSUBSCRIBE, preferences.unsubscribe, methods=["POST"]),
        Route(p.CONFIRM, preferences.confirm_page, methods=["GET"]),
        Route(p.CONFIRM, preferences.confirm, methods=["POST"]),
        Route(p.TRACK_OPEN, tracking.open_pixel, methods=["GET"]),
        Route(p.TRACK_CLICK, tracking.click, methods=["GET"]),
        Route(p.DASHBOARD, dashboard.show, methods=["GET"]),
        Route(p.DASHBOARD_LOGIN, dashboard.sign_in_page, methods=["GET"]),
        Route(p.DASHBOARD_LOGIN, dashboard.sign_in, methods=["POST"]),
        Route(p.DASHBOARD_LOGOUT, dashboard.sign_out, methods=["POST"]),
        Route(p.PROMETHEUS, prometheus.metrics, methods=["GET"]),
        Mount(p.STATIC, StaticFiles(directory=STATIC_DIR), name="static"),
    ]


def secret_prefixes(routes: Sequence[BaseRoute]) -> tuple[str, ...]:
    """The path prefixes after which a path carries a secret, longest first.

    Safe by default: every path parameter is taken for a secret unless its name ends in
    ``_id`` (ids are not credentials), so a token route added later is redacted whatever its
    parameter is called."""
    prefixes = set()
    for route in routes:
        path = getattr(route, "path", "")
        for parameter in _PARAMETER.finditer(path):
            if not parameter.group(1).endswith("_id"):
                prefixes.add(path[: parameter.start()])
                break
    return tuple(sorted(prefixes, key=len, reverse=True))
