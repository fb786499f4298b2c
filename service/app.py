"""The Starlette application: the whole route table, middleware and lifespan in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from service import health, prometheus
from service.admin import dashboard
from service.api import campaigns, contacts, messages, metrics, subjects
from service.config import Settings
from service.middleware import AccessLog, CatchAll, SecurityHeaders
from service.portal import preferences, secure_message, tracking
from service.problems import Problem, http_exception_handler, problem_handler
from service.resources import open_resources

STATIC_DIR = Path(__file__).resolve().parent / "portal" / "static"


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_resources(settings) as resources:
            app.state.resources = resources
            yield

    routes = [
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/openapi.yaml", health.openapi, methods=["GET"]),
        Route("/v1/messages", messages.create_message, methods=["POST"]),
        Route("/v1/messages/{message_id}", messages.get_message, methods=["GET"]),
        Route("/v1/contacts", contacts.create_contact, methods=["POST"]),
        Route("/v1/contacts/{contact_id}/consents", contacts.change_consent, methods=["POST"]),
        Route("/v1/contacts/{contact_id}/authorizations", contacts.create_authorization,
              methods=["POST"]),
        Route("/v1/contacts/{contact_id}/consent", contacts.consent_state, methods=["GET"]),
        Route("/v1/contacts/{contact_id}/tags", contacts.set_tags, methods=["PUT"]),
        Route("/v1/suppressions", contacts.create_suppression, methods=["POST"]),
        Route("/v1/campaigns", campaigns.create_campaign, methods=["POST"]),
        Route("/v1/campaigns/{campaign_id}", campaigns.get_campaign, methods=["GET"]),
        Route("/v1/campaigns/{campaign_id}/audience", campaigns.upload_audience,
              methods=["POST"]),
        Route("/v1/campaigns/{campaign_id}/send", campaigns.send_campaign, methods=["POST"]),
        Route("/v1/campaigns/{campaign_id}/pause", campaigns.pause_campaign, methods=["POST"]),
        Route("/v1/campaigns/{campaign_id}/resume", campaigns.resume_campaign, methods=["POST"]),
        Route("/v1/campaigns/{campaign_id}/cancel", campaigns.cancel_campaign, methods=["POST"]),
        Route("/v1/campaigns/{campaign_id}/metrics", metrics.campaign_metrics, methods=["GET"]),
        Route("/v1/metrics", metrics.all_metrics, methods=["GET"]),
        Route("/v1/admin/subjects", subjects.list_subjects, methods=["GET"]),
        Route("/v1/admin/subjects", subjects.add_subject, methods=["POST"]),
        Route("/v1/admin/subjects/{subject_id}", subjects.remove_subject, methods=["DELETE"]),
        Route("/p/{token}", secure_message.show_landing, methods=["GET"]),
        Route("/p/{token}", secure_message.reveal, methods=["POST"]),
        Route("/u/{token}", preferences.unsubscribe_page, methods=["GET"]),
        Route("/u/{token}", preferences.unsubscribe, methods=["POST"]),
        Route("/c/{token}", preferences.confirm_page, methods=["GET"]),
        Route("/c/{token}", preferences.confirm, methods=["POST"]),
        Route("/t/o/{token}", tracking.open_pixel, methods=["GET"]),
        Route("/t/c/{token}", tracking.click, methods=["GET"]),
        Route("/admin", dashboard.show, methods=["GET"]),
        Route("/admin/login", dashboard.sign_in_page, methods=["GET"]),
        Route("/admin/login", dashboard.sign_in, methods=["POST"]),
        Route("/admin/logout", dashboard.sign_out, methods=["POST"]),
        Route("/metrics", prometheus.metrics, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    request_stats = prometheus.RequestStats()
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(AccessLog, stats=request_stats), Middleware(SecurityHeaders),
            Middleware(CatchAll),
        ],
        exception_handlers={Problem: problem_handler, HTTPException: http_exception_handler},
        lifespan=lifespan,
    )
    app.state.request_stats = request_stats
    return app
