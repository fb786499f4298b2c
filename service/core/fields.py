"""Checks on the fields of JSON bodies and on path parameters, shared by every route. Pure.

Problems name the field, never its value: a value may be exactly the PHI being refused.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Collection, Mapping
from typing import Any

from starlette.requests import Request

from service.core.addresses import AddressError, normalise_address
from service.core.problems import Problem, invalid

TEXT_MAX = 2000
# The dates a query may name: a report before the service existed, or past any real schedule,
# is a typo, and the far ends of the calendar overflow date arithmetic.
EARLIEST_DATE = dt.date(2000, 1, 1)
LATEST_DATE = dt.date(2099, 12, 31)

# NUL, which PostgreSQL text cannot hold, and lone surrogates (JSON's "\ud800"), which UTF-8
# cannot encode: either would fail deep inside a handler, after the request was judged valid.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_DATE = re.compile("[0-9]{4}-[0-9]{2}-[0-9]{2}")
# What no email header may hold (C0 controls and DEL): a line break there is header injection.
HEADER_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def storable(text: str) -> bool:
    return _UNSTORABLE.search(text) is None


def refuse_unstorable(fields: Mapping[str, Any]) -> None:
    """Every string of a body or form, at any depth, names included, must be storable; the
    problem names the top-level field (a nested name or value may be the PHI itself)."""
    for field, value in fields.items():
        if not storable(field):
            raise invalid("A field name holds NUL or a lone surrogate")
        pending = [value]
        while pending:
            item = pending.pop()
            if isinstance(item, dict):
                pending.extend(item)
                pending.extend(item.values())
            elif isinstance(item, list):
                pending.extend(item)
            elif isinstance(item, str) and not storable(item):
                raise invalid(f"`{field}` holds NUL or a lone surrogate", fields=[field])


def only(body: dict[str, Any], allowed: Collection[str], required: Collection[str] = ()) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise invalid("Unknown fields in the body", fields=unknown)
    missing = sorted(set(required) - set(body))
    if missing:
        raise invalid("Required fields are missing", fields=missing)


def text_field(
    body: dict[str, Any], field: str, limit: int = TEXT_MAX, *, optional: bool = False
) -> str | None:
    """A non-blank string of at most ``limit`` characters, stripped; None when optional and
    absent."""
    value = body.get(field)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise invalid(f"`{field}` must be text of 1 to {limit} characters", fields=[field])
    return value.strip()


def address_field(body: dict[str, Any], field: str) -> str:
    """A recipient address, normalised (``core/addresses.py``)."""
    try:
        return normalise_address(body.get(field))  # type: ignore[arg-type]
    except AddressError as exc:
        raise invalid(f"`{field}` {exc}", fields=[field]) from None


def choice(body: dict[str, Any], field: str, allowed: Collection[str]) -> str:
    value = body.get(field)
    if value not in allowed:
        raise invalid(f"`{field}` must be one of {', '.join(allowed)}", fields=[field])
    return str(value)


def timestamp(body: dict[str, Any], field: str, *, optional: bool = False) -> dt.datetime | None:
    """An ISO 8601 date-time with its offset: a time without one means a different moment to
    every reader."""
    value = body.get(field)
    if value is None and optional:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise invalid(f"`{field}` must be an ISO 8601 date-time", fields=[field]) from None
    if parsed.tzinfo is None:
        raise invalid(f"`{field}` needs a time zone offset", fields=[field])
    return parsed


def flag(body: dict[str, Any], field: str, default: bool | None = None) -> bool:
    value = body.get(field, default)
    if not isinstance(value, bool):
        raise invalid(f"`{field}` must be true or false", fields=[field])
    return value


def query_date(request: Request, name: str, default: dt.date) -> dt.date:
    """A ``YYYY-MM-DD`` query parameter from EARLIEST_DATE to LATEST_DATE."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        # fromisoformat also takes 20240101 and 2024-W01-1: one spelling only.
        value = dt.date.fromisoformat(raw) if _DATE.fullmatch(raw) else None
    except ValueError:
        value = None
    if value is None or not EARLIEST_DATE <= value <= LATEST_DATE:
        raise invalid(f"`{name}` must be a date, YYYY-MM-DD, from {EARLIEST_DATE} to "
                      f"{LATEST_DATE}", fields=[name])
    return value


def path_id(request: Request, name: str) -> uuid.UUID:
    """A UUID path parameter; anything else is a plain 404, like an id that does not exist."""
    try:
        return uuid.UUID(request.path_params[name])
    except ValueError:
        raise Problem(404, "not-found", "Not found") from None
