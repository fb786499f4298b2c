"""The Starlette application: the route table, middleware and lifespan in one place."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from service.access import VerifiedKeys
from service.access.key_events import key_events
from service.access.rate_limit import RateLimiter
from service.core.config import Settings
from service.core.problems import Problem, http_exception_handler, problem_handler
from service.db.resources import open_resources
from service.http import prometheus
from service.http.middleware import Edge, PathRedactor
from service.http.routes import route_table, secret_prefixes
from service.messages.group_commit import AcceptBatches
from service.subjects import SubjectGate

log = logging.getLogger(__name__)

# How long shutdown waits for batches in flight. Bounded because a batch can wait on a store that
# stopped answering (the enqueue nudge has no timeout of its own); then the stores close anyway
# and a committed message is still found by the worker's outbox sweep.
SHUTDOWN_DRAIN_SECONDS = 10.0


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_resources(settings) as resources:
            app.state.resources = resources
            VerifiedKeys().attach(app.state)
            RateLimiter(resources.redis, settings).attach(app.state)
            SubjectGate(settings.clinic_name).attach(app.state)
            async with key_events(settings.database_url, resources.db,
                                  app.state.verified_keys):
                yield
                # A batch whose callers all left (a client gone, a rate check past its timeout)
                # may still be running: it finishes, and commits and nudges what it holds,
                # before the stores close under it.
                drained = await asyncio.gather(
                    app.state.rate_limiter.drain(SHUTDOWN_DRAIN_SECONDS),
                    AcceptBatches.drain_of(app.state, SHUTDOWN_DRAIN_SECONDS))
                if not all(drained):
                    log.warning("batches still running after %s s; closing the stores anyway",
                                SHUTDOWN_DRAIN_SECONDS)

    routes = route_table()
    redact = PathRedactor(secret_prefixes(routes))
    request_stats = prometheus.RequestStats()
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Edge, stats=request_stats, redact=redact)],
        exception_handlers={Problem: problem_handler, HTTPException: http_exception_handler},
        lifespan=lifespan,
    )
    app.state.request_stats = request_stats
    return app
