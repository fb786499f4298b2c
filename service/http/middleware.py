"""The ASGI middleware: security headers on every response, an access log that carries no token
(fields of a JSON line, ``core/logs.py``), and no unhandled exception past it."""

from __future__ import annotations

import logging
import sys
import time

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.config import ConfigError
from service.core.logs import fields
from service.core.problems import Problem, response, unavailable
from service.db.outage import RETRY_AFTER_SECONDS, is_outage
from service.http.prometheus import RequestStats

access_log = logging.getLogger("service.access")
log = logging.getLogger(__name__)

# As raw ASGI headers, added to every response that does not set its own.
_SECURITY_HEADERS = tuple((name.encode(), value.encode()) for name, value in {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}.items())
_HSTS = ((b"strict-transport-security", b"max-age=31536000"),)


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


class Edge:
    """Every HTTP request's way in and out, in one layer (each layer of ASGI middleware costs
    every request a coroutine frame and a wrapper around each message it sends):

    - security headers on every response (a handler's own value of one wins);
    - one access-log record a request, as fields: method, path with tokens removed, status,
      milliseconds; no query string, no client address, no user agent; and the request figures
      of ``/metrics``, labelled by handler name, never by path;
    - the last line of defence: a database outage becomes a 503 problem with ``Retry-After``,
      any other unhandled exception a bare 500 problem, and only the exception's type is
      logged. Starlette's own error middleware re-raises after answering, so the server would
      log a traceback, and driver messages can quote query parameters (PHI). Nothing escapes.
      A failed start-up or shutdown is reported to the server by its exception's type alone:
      Starlette sends the formatted traceback, which the server logs as it is.
    """

    def __init__(self, app: ASGIApp, stats: RequestStats, redact: PathRedactor) -> None:
        self.app = app
        self.stats = stats
        self.redact = redact

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, _failure_by_type(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 0  # no response started
        extra = _HSTS if scope.get("scheme") == "https" else ()

        async def send_at_edge(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers")
                if not isinstance(headers, list):
                    headers = message["headers"] = list(headers or ())
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in (*_SECURITY_HEADERS, *extra) if h[0] not in present)
            await send(message)

        try:
            await self.app(scope, receive, send_at_edge)
        except ClientDisconnect:
            pass  # the client left mid-body: there is no one to answer
        except Exception as exc:  # the last line of defence, by design
            await self._answer_failure(exc, scope, receive, send_at_edge, started=status != 0)
        finally:
            seconds = time.perf_counter() - began
            access_log.info("request", extra=fields(
                method=scope["method"], path=self.redact(scope["path"]), status=status or 500,
                ms=round(seconds * 1000, 1),
            ))
            handler = getattr(scope.get("endpoint"), "__name__", "other")
            self.stats.observe(handler, scope["method"], status or 500, seconds)

    async def _answer_failure(self, exc: Exception, scope: Scope, receive: Receive, send: Send,
                              *, started: bool) -> None:
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
            await response(Problem(500, "internal-error", "Internal error"))(scope, receive, send)


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
