"""Reading request bodies with a hard size cap, before anything is parsed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request

from service.core.fields import refuse_unstorable
from service.core.problems import Problem, invalid

# Every body the API takes is flat or one list deep; a few levels spare, and no more.
MAX_JSON_DEPTH = 8


def _too_large(limit: int) -> Problem:
    return Problem(413, "payload-too-large", "The request body is too large",
                   f"The body may be at most {limit} bytes")


def stream_capped(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive. A Content-Length over ``limit`` is refused before
    anything is read, and any body as soon as the bytes read pass it."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise _too_large(limit)
    return _counted(request.stream(), limit)


async def _counted(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        yield chunk


async def read_capped(request: Request, limit: int) -> bytes:
    return b"".join([chunk async for chunk in stream_capped(request, limit)])


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
    except RecursionError:
        raise _too_deep() from None
    if not isinstance(body, dict):
        raise invalid("The body must be a JSON object")
    if _depth(body) > MAX_JSON_DEPTH:
        raise _too_deep()
    refuse_unstorable(body)
    return body


def _too_deep() -> Problem:
    return Problem(400, "json-too-deep", "The body is nested too deeply",
                   f"Arrays and objects may be nested at most {MAX_JSON_DEPTH} deep")


def _depth(body: dict[str, Any]) -> int:
    """Without recursion: the parser's own limit is the interpreter's stack, and what reads
    a body after it (canonical JSON, the checks) must not meet a RecursionError either."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(body, 1)]
    while pending:
        node, depth = pending.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            break
        children = node.values() if isinstance(node, dict) else node
        pending.extend((child, depth + 1) for child in children
                       if isinstance(child, dict | list))
    return deepest


async def read_form(request: Request, limit: int) -> dict[str, str]:
    raw = await read_capped(request, limit)
    try:
        parsed = parse_qs(raw.decode(), max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        raise Problem(400, "bad-request", "The form could not be read") from None
    form = {name: values[0] for name, values in parsed.items()}
    refuse_unstorable(form)
    return form
