"""Checks on the fields of JSON bodies and on path parameters, shared by every route. Pure.

Problems name the field, never its value: a value may be exactly the PHI being refused.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection
from typing import Any

from starlette.requests import Request

from service.core.addresses import AddressError, normalise_address
from service.core.problems import Problem, invalid

TEXT_MAX = 2000


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


def path_id(request: Request, name: str) -> uuid.UUID:
    """A UUID path parameter; anything else is a plain 404, like an id that does not exist."""
    try:
        return uuid.UUID(request.path_params[name])
    except ValueError:
        raise Problem(404, "not-found", "Not found") from None
