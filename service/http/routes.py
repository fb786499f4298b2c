"""The whole route table, built from the paths in ``core/paths.py``, and what the access log
must redact, derived from it."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Sequence

from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from service.access import key_routes
from service.admin import campaign_pages, dashboard, editor, health_page, sign_in
from service.campaigns import routes as campaigns
from service.consent import preferences
from service.consent import routes as contacts
from service.core import paths as p
from service.engagement import routes as metrics
from service.engagement import tracking
from service.http import health, prometheus
from service.messages import routes as messages
from service.portal import STATIC_DIR, logo, secure_message
from service.subjects import practice_names
from service.subjects import routes as subjects
from service.webhooks import routes as webhooks

_PARAMETER = re.compile(r"\{(\w+)(?::\w+)?\}")


class _PathRoute(Route):
    """A route whose 405 names every method of its path. Starlette answers a 405 from the first
    route whose path matched, naming that route's methods only, so a path served by two routes
    (GET and POST) would deny having the other."""

    def __init__(self, route: Route, allow: Collection[str]) -> None:
        super().__init__(route.path, route.endpoint, methods=list(route.methods or ()),
                         name=route.name)
        self.allow = ", ".join(sorted(allow))

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            raise HTTPException(405, headers={"Allow": self.allow})
        await super().handle(scope, receive, send)


def _allow_per_path(routes: list[BaseRoute]) -> list[BaseRoute]:
    methods: defaultdict[str, set[str]] = defaultdict(set)
    for route in routes:
        if isinstance(route, Route):
            methods[route.path] |= route.methods or set()
    return [_PathRoute(route, methods[route.path]) if isinstance(route, Route) else route
            for route in routes]


def route_table() -> list[BaseRoute]:
    return _allow_per_path([
        Route(p.HEALTHZ, health.healthz, methods=["GET"]),
        Route(p.READYZ, health.readyz, methods=["GET"]),
        Route(p.OPENAPI, health.openapi, methods=["GET"]),
        Route(p.MESSAGES, messages.create_message, methods=["POST"]),
        Route(p.MESSAGE, messages.get_message, methods=["GET"]),
        Route(p.MESSAGE, messages.cancel_message, methods=["DELETE"]),
        Route(p.CONTACTS, contacts.create_contact, methods=["POST"]),
        Route(p.CONTACT_CONSENTS, contacts.change_consent, methods=["POST"]),
        Route(p.CONTACT_AUTHORIZATIONS, contacts.create_authorization, methods=["POST"]),
        Route(p.CONTACT_CONSENT, contacts.consent_state, methods=["GET"]),
        Route(p.CONTACT_TAGS, contacts.set_tags, methods=["PUT"]),
        Route(p.SUPPRESSIONS, contacts.create_suppression, methods=["POST"]),
        Route(p.CAMPAIGNS, campaigns.list_campaigns, methods=["GET"]),
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
        Route(p.PRACTICE_NAMES, practice_names.list_practice_names, methods=["GET"]),
        Route(p.PRACTICE_NAMES, practice_names.add_practice_name, methods=["POST"]),
        Route(p.PRACTICE_NAME, practice_names.remove_practice_name, methods=["DELETE"]),
        Route(p.WEBHOOKS, webhooks.create_webhook, methods=["POST"]),
        Route(p.WEBHOOKS, webhooks.list_webhooks, methods=["GET"]),
        Route(p.WEBHOOK, webhooks.get_webhook, methods=["GET"]),
        Route(p.WEBHOOK, webhooks.delete_webhook, methods=["DELETE"]),
        Route(p.WEBHOOK_ROTATE, webhooks.rotate_webhook_secret, methods=["POST"]),
        Route(p.WEBHOOK_ENABLE, webhooks.enable_webhook, methods=["POST"]),
        Route(p.WEBHOOK_ATTEMPTS, webhooks.list_webhook_attempts, methods=["GET"]),
        Route(p.KEYS, key_routes.list_keys, methods=["GET"]),
        Route(p.KEYS, key_routes.create_key, methods=["POST"]),
        Route(p.KEY_REVOKE, key_routes.revoke_key, methods=["POST"]),
        Route(p.KEY_ROTATE, key_routes.rotate_key, methods=["POST"]),
        Route(p.PORTAL, secure_message.show_landing, methods=["GET"]),
        Route(p.PORTAL, secure_message.reveal, methods=["POST"]),
        Route(p.UNSUBSCRIBE, preferences.unsubscribe_page, methods=["GET"]),
        Route(p.UNSUBSCRIBE, preferences.unsubscribe, methods=["POST"]),
        Route(p.PREFERENCES, preferences.save_preferences, methods=["POST"]),
        Route(p.CONFIRM, preferences.confirm_page, methods=["GET"]),
        Route(p.CONFIRM, preferences.confirm, methods=["POST"]),
        Route(p.TRACK_OPEN, tracking.open_pixel, methods=["GET"]),
        Route(p.TRACK_CLICK, tracking.click, methods=["GET"]),
        Route(p.DASHBOARD, dashboard.show, methods=["GET"]),
        Route(p.DASHBOARD_LOGIN, sign_in.sign_in_page, methods=["GET"]),
        Route(p.DASHBOARD_LOGIN, sign_in.sign_in, methods=["POST"]),
        Route(p.DASHBOARD_LOGOUT, sign_in.sign_out, methods=["POST"]),
        Route(p.DASHBOARD_ENROL, sign_in.enrol_page, methods=["GET"]),
        Route(p.DASHBOARD_ENROL, sign_in.enrol, methods=["POST"]),
        Route(p.PROMETHEUS, prometheus.metrics, methods=["GET"]),
        # -- staff pages (campaigns, health, editor): add routes here --
        Route(p.DASHBOARD_CAMPAIGN_NEW, editor.new_page, methods=["GET"]),
        Route(p.DASHBOARD_CAMPAIGN_NEW, editor.create, methods=["POST"]),
        Route(p.DASHBOARD_CAMPAIGN_AUDIENCE, editor.upload_audience, methods=["POST"]),
        Route(p.DASHBOARD_CAMPAIGN_PREVIEW, editor.preview, methods=["GET"]),
        Route(p.DASHBOARD_CAMPAIGN_SEND, editor.send, methods=["POST"]),
        # After the editor's /new, which a campaign id would otherwise take.
        Route(p.DASHBOARD_CAMPAIGNS, campaign_pages.list_page, methods=["GET"]),
        Route(p.DASHBOARD_CAMPAIGN, campaign_pages.detail_page, methods=["GET"]),
        Route(p.DASHBOARD_CAMPAIGN_PAUSE, campaign_pages.pause, methods=["POST"]),
        Route(p.DASHBOARD_CAMPAIGN_RESUME, campaign_pages.resume, methods=["POST"]),
        Route(p.DASHBOARD_CAMPAIGN_CANCEL, campaign_pages.cancel, methods=["POST"]),
        Route(p.DASHBOARD_HEALTH, health_page.show, methods=["GET"]),
        Route(p.CLINIC_LOGO, logo.clinic_logo, methods=["GET"]),
        Mount(p.STATIC, StaticFiles(directory=STATIC_DIR), name="static"),
    ])


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
