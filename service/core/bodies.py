"""Reading request bodies with a hard size cap, before anything is parsed."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request

from service.core.problems import Problem, invalid


def _too_large() -> Problem:
    return Problem(413, "payload-too-large", "The request body is too large")


async def read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise Problem(415, "unsupported-media-type", "Send the body as application/json")
    raw = await read_capped(request, limit)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        # The parser's message can quote the body, so it is not passed on.
        raise Problem(400, "malformed-json", "The body is not valid JSON") from None
    if not isinstance(body, dict):
        raise invalid("The body must be a JSON object")
    return body


async def read_form(request: Request, limit: int) -> dict[str, str]:
    raw = await read_capped(request, limit)
    try:
        parsed = parse_qs(raw.decode(), max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        raise Problem(400, "bad-request", "The form could not be read") from None
    return {name: values[0] for name, values in parsed.items()}
