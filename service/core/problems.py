"""The error vocabulary: one problem-details exception, rendered by one handler (RFC 9457).

``type`` URIs are stable identifiers clients can switch on; ``detail`` never carries PHI.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

TYPE_BASE = "https://hipaa-mail.dev/problems/"


class Problem(Exception):
    def __init__(
        self, status: int, slug: str, title: str, detail: str | None = None, **extra: Any
    ) -> None:
        super().__init__(title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": TYPE_BASE + self.slug, "title": self.title}
        body["status"] = self.status
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


def unauthorized() -> Problem:
    problem = Problem(401, "unauthorized", "A valid API key is required")
    problem.headers["WWW-Authenticate"] = 'Bearer realm="hipaa-mail"'
    return problem


def unavailable(retry_after_seconds: int) -> Problem:
    """A dependency is briefly out of reach: nothing was done, and asking again will work."""
    problem = Problem(503, "service-unavailable", "The service is briefly unavailable",
                      "Try again shortly: a request repeated with the same Idempotency-Key "
                      "is never sent twice.")
    problem.headers["Retry-After"] = str(retry_after_seconds)
    return problem


def require_marketing(enabled: bool) -> None:
    """Campaigns and marketing sends, refused while MARKETING_ENABLED=false."""
    if not enabled:
        raise Problem(403, "marketing-disabled",
                      "Marketing email is turned off for this service (MARKETING_ENABLED)")


def invalid(detail: str, **extra: Any) -> Problem:
    return Problem(422, "invalid-request", "The request is not valid", detail, **extra)


class ProblemResponse(JSONResponse):
    media_type = "application/problem+json"


def render(problem: Problem, request: Request) -> Response:
    # The request path may carry a portal token, so it is not echoed as `instance`.
    return response(problem)


def response(problem: Problem) -> ProblemResponse:
    return ProblemResponse(problem.body(), status_code=problem.status, headers=problem.headers)


async def problem_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return render(exc, request)


_HTTP_SLUGS = {
    400: ("bad-request", "The request could not be read"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("payload-too-large", "The request body is too large"),
}


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    slug, title = _HTTP_SLUGS.get(exc.status_code, ("http-error", "Request failed"))
    problem = Problem(exc.status_code, slug, title)
    problem.headers.update(exc.headers or {})
    return render(problem, request)
