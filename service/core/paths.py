"""Every public path, defined once.

The router (``http/routes.py``) is built from these, the link builders put tokens into them with
``link``, and the access log derives what to redact from the router, so a token route added here
is redacted without anyone remembering to.
"""

from __future__ import annotations

HEALTHZ = "/healthz"
READYZ = "/readyz"
OPENAPI = "/openapi.yaml"
PROMETHEUS = "/metrics"
STATIC = "/static"
# CLINIC_LOGO_FILE, served from the service's own origin beside the stylesheets.
CLINIC_LOGO = "/static/clinic-logo"

MESSAGES = "/v1/messages"
MESSAGE = "/v1/messages/{message_id}"
CONTACTS = "/v1/contacts"
CONTACT_CONSENTS = "/v1/contacts/{contact_id}/consents"
CONTACT_AUTHORIZATIONS = "/v1/contacts/{contact_id}/authorizations"
CONTACT_CONSENT = "/v1/contacts/{contact_id}/consent"
CONTACT_TAGS = "/v1/contacts/{contact_id}/tags"
SUPPRESSIONS = "/v1/suppressions"
CAMPAIGNS = "/v1/campaigns"
CAMPAIGN = "/v1/campaigns/{campaign_id}"
CAMPAIGN_AUDIENCE = "/v1/campaigns/{campaign_id}/audience"
CAMPAIGN_SEND = "/v1/campaigns/{campaign_id}/send"
CAMPAIGN_PAUSE = "/v1/campaigns/{campaign_id}/pause"
CAMPAIGN_RESUME = "/v1/campaigns/{campaign_id}/resume"
CAMPAIGN_CANCEL = "/v1/campaigns/{campaign_id}/cancel"
CAMPAIGN_METRICS = "/v1/campaigns/{campaign_id}/metrics"
METRICS = "/v1/metrics"
APPROVED_SUBJECTS = "/v1/admin/subjects"
APPROVED_SUBJECT = "/v1/admin/subjects/{subject_id}"
PRACTICE_NAMES = "/v1/admin/practice-names"
PRACTICE_NAME = "/v1/admin/practice-names/{practice_name_id}"
WEBHOOKS = "/v1/webhooks"
WEBHOOK = "/v1/webhooks/{webhook_id}"
WEBHOOK_ROTATE = "/v1/webhooks/{webhook_id}/rotate-secret"
WEBHOOK_ENABLE = "/v1/webhooks/{webhook_id}/enable"
WEBHOOK_ATTEMPTS = "/v1/webhooks/{webhook_id}/attempts"
KEYS = "/v1/keys"
KEY_REVOKE = "/v1/keys/{key_id}/revoke"
KEY_ROTATE = "/v1/keys/{key_id}/rotate"

DASHBOARD = "/admin"
DASHBOARD_LOGIN = "/admin/login"
DASHBOARD_LOGOUT = "/admin/logout"
DASHBOARD_ENROL = "/admin/enrol"
# Staff pages: campaigns with their progress and controls (admins, and marketers for their own),
# delivery health (admins), and the marketer's campaign editor.
DASHBOARD_CAMPAIGNS = "/admin/campaigns"
DASHBOARD_CAMPAIGN_NEW = "/admin/campaigns/new"
DASHBOARD_CAMPAIGN = "/admin/campaigns/{campaign_id}"
DASHBOARD_CAMPAIGN_PAUSE = "/admin/campaigns/{campaign_id}/pause"
DASHBOARD_CAMPAIGN_RESUME = "/admin/campaigns/{campaign_id}/resume"
DASHBOARD_CAMPAIGN_CANCEL = "/admin/campaigns/{campaign_id}/cancel"
DASHBOARD_CAMPAIGN_AUDIENCE = "/admin/campaigns/{campaign_id}/audience"
DASHBOARD_CAMPAIGN_PREVIEW = "/admin/campaigns/{campaign_id}/preview"
DASHBOARD_CAMPAIGN_SEND = "/admin/campaigns/{campaign_id}/send"
DASHBOARD_HEALTH = "/admin/health"

# The patient's and the mail client's links: the token in each is a bearer credential.
PORTAL = "/p/{token}"
UNSUBSCRIBE = "/u/{token}"
# The preference centre's own choice (the one-click POST to UNSUBSCRIBE stays RFC 8058's).
PREFERENCES = "/u/{token}/preferences"
CONFIRM = "/c/{token}"
TRACK_OPEN = "/t/o/{token}"
TRACK_CLICK = "/t/c/{token}"


def link(base_url: str, path: str, token: str) -> str:
    """The absolute URL of a token route, as it goes into an email."""
    return base_url + path.replace("{token}", token)
