"""One shape for every list the API returns: ``{"items": [...], "next_cursor": "..." | null}``,
asked for with ``?limit=`` (1 to ``MAX_LIMIT``, default ``DEFAULT_LIMIT``) and ``?cursor=`` (the
``next_cursor`` of the page before).

Keyset pagination: the cursor carries the sort key of the last item shown, so a page is one index
range scan however deep, and rows added meanwhile neither repeat nor skip items. The cursor is
opaque to clients but not secret: forging one only moves where a page of the caller's own rows
starts, since every list query still filters by what the key may see.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from service.core.problems import invalid

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Longer than any cursor we make; a bound before decoding anything.
_CURSOR_MAX = 512


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int
    # The sort key of the last item of the page before, parsed; None for the first page.
    after: tuple[Any, ...] | None


def page_request(request: Request, key_types: Sequence[Callable[[str], Any]]) -> PageRequest:
    """``key_types`` parse each part of the sort key from its text (``uuid.UUID``,
    ``datetime.fromisoformat``, ...); a cursor they refuse is a 422 naming ``cursor``."""
    raw_limit = request.query_params.get("limit")
    limit = DEFAULT_LIMIT
    if raw_limit is not None:
        if not raw_limit.isascii() or not raw_limit.isdigit() or not (
                1 <= int(raw_limit) <= MAX_LIMIT):
            raise invalid(f"`limit` must be a whole number from 1 to {MAX_LIMIT}",
                          fields=["limit"])
        limit = int(raw_limit)
    cursor = request.query_params.get("cursor")
    if cursor is None:
        return PageRequest(limit, None)
    try:
        if len(cursor) > _CURSOR_MAX:
            raise ValueError
        parts = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii") + b"=="))
        if not isinstance(parts, list) or len(parts) != len(key_types) or not all(
                isinstance(part, str) for part in parts):
            raise ValueError
        after = tuple(parse(part) for parse, part in zip(key_types, parts, strict=True))
    except (ValueError, UnicodeError, binascii.Error):
        raise invalid("`cursor` must be the `next_cursor` of an earlier page",
                      fields=["cursor"]) from None
    return PageRequest(limit, after)


def page(rows: Sequence[Any], wanted: PageRequest, sort_key: Callable[[Any], Sequence[object]],
         render: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """The answer for ``rows``, fetched with ``LIMIT wanted.limit + 1``: the extra row only says
    that there is a next page."""
    shown = rows[: wanted.limit]
    next_cursor = None
    if len(rows) > wanted.limit:
        key = json.dumps([str(part) for part in sort_key(shown[-1])]).encode()
        next_cursor = base64.urlsafe_b64encode(key).rstrip(b"=").decode("ascii")
    return {"items": [render(row) for row in shown], "next_cursor": next_cursor}
