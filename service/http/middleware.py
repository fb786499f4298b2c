"""ASGI middleware: security headers on every response, and an access log that carries no token
(fields of a JSON line, ``core/logs.py``)."""

from __future__ import annotations

import logging
import sys
import time

from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.config import ConfigError
from service.core.logs import fields
from service.core.problems import Problem, response, unavailable
from service.db.outage import RETRY_AFTER_SECONDS, is_outage
from service.http.prometheus import RequestStats

access_log = logging.getLogger("service.access")
log = logging.getLogger(__name__)

_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}



class PathRedactor:
    """A path as it may be logged: whatever follows a secret-bearing prefix (derived from the
    route table, ``http/routes.py``) is replaced, matched or not, so a mistyped token is hidden
    as well as a real one."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        self._prefixes = prefixes

    def __call__(self, path: str) -> str:
        for prefix in self._prefixes:
            if path.startswith(prefix) and len(path) > len(prefix):
                return prefix + "<redacted>"
        return path


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if scope.get("scheme") == "https":
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000")
            await send(message)

        await self.app(scope, receive, send_with_headers)


class AccessLog:
    """One record a request, as fields: method, path with tokens removed, status, milliseconds.
    No query string, no client address, no user agent. Also feeds the request figures of
    ``/metrics``, labelled by handler name, never by path."""

    def __init__(self, app: ASGIApp, stats: RequestStats, redact: PathRedactor) -> None:
        self.app = app
        self.stats = stats
        self.redact = redact

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_capturing(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_capturing)
        finally:
            seconds = time.perf_counter() - started
            access_log.info("request", extra=fields(
                method=scope["method"], path=self.redact(scope["path"]), status=status,
                ms=round(seconds * 1000, 1),
            ))
            endpoint = scope.get("endpoint")
            handler = getattr(endpoint, "__name__", "other")
            self.stats.observe(handler, scope["method"], status, seconds)


class CatchAll:
    """Turns a database outage into a 503 problem with ``Retry-After``, any other unhandled
    exception into a bare 500 problem, and logs only the exception's type.

    Starlette's own error middleware re-raises after answering, so the server would log a
    traceback, and driver messages can quote query parameters (PHI). Nothing escapes this.
    A failed start-up or shutdown is reported to the server by its exception's type alone:
    Starlette sends the formatted traceback, which the server logs as it is.
    """

    def __init__(self, app: ASGIApp, redact: PathRedactor) -> None:
        self.app = app
        self.redact = redact

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, _failure_by_type(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except ClientDisconnect:
            return  # the client left mid-body: there is no one to answer
        except Exception as exc:  # the last line of defence, by design
            if is_outage(exc):
                # Asking again shortly will work: say so (RFC 9110 503).
                log.warning("database unreachable", extra=fields(
                    exception=type(exc).__name__, method=scope["method"],
                    path=self.redact(scope["path"])))
                if not started:
                    await response(unavailable(RETRY_AFTER_SECONDS))(scope, receive, send)
                return
            log.error("unhandled exception", extra=fields(
                exception=type(exc).__name__, method=scope["method"],
                path=self.redact(scope["path"])))
            if not started:
                await response(Problem(500, "internal-error", "Internal error"))(
                    scope, receive, send)


def _failure_by_type(send: Send) -> Send:
    async def send_failure_by_type(message: Message) -> None:
        if message["type"] in ("lifespan.startup.failed", "lifespan.shutdown.failed"):
            # Starlette sends this from the except block that caught the failure, so the
            # exception being handled is the one the traceback describes. A ConfigError's text
            # names the setting and never its value: the operator needs it.
            failure = sys.exception()
            said = f": {failure}" if isinstance(failure, ConfigError) else ""
            message = {**message, "message": f"start-up or shutdown failed: "
                                             f"{type(failure).__name__}{said}"}
        await send(message)

    return send_failure_by_type
