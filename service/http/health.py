"""Liveness, readiness and the OpenAPI document."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.core.problems import Problem
from service.db.resources import Resources
from service.shipped import openapi_document


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready while PostgreSQL answers: that is all an accept needs. Redis is only the work
    queue (the worker's sweep finds in PostgreSQL whatever it missed), so an API without it
    stays in service and says so."""
    res: Resources = request.app.state.resources
    checks = {"database": "ok", "redis": "ok"}
    try:
        await asyncio.wait_for(res.db.fetchval("SELECT 1"), 2)
    except (OSError, TimeoutError, Exception):
        checks["database"] = "unreachable"
    try:
        await asyncio.wait_for(res.redis.ping(), 2)
    except (OSError, TimeoutError, Exception):
        checks["redis"] = "unreachable"
    if checks["database"] != "ok":
        raise Problem(503, "not-ready", "The database is unreachable", checks=checks)
    return JSONResponse({"status": "ready", **checks})


async def openapi(request: Request) -> Response:
    return Response(openapi_document(), media_type="application/yaml")
