"""``/v1/keys``: an admin manages its own organization's API keys. Another organization's key
ids are not found. An admin may revoke or rotate the very key it calls with: its next request is
refused (or, rotated, refused once the old key's time is up); the operator's ``create-key`` is
the way back in if that was the organization's last admin key.

A new key (created or rotated) is in the answer once, as ``key``; nothing shows it again.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.access import key_admin
from service.access.keys import ROLES, VerifiedKeys, require
from service.core.bodies import read_json_object
from service.core.fields import only, text_field
from service.core.pagination import page, page_request
from service.core.problems import invalid
from service.db.resources import Resources

_BODY_LIMIT = 1024


def render(row: asyncpg.Record) -> dict[str, Any]:
    def when(value: dt.datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "key_id": row["key_id"], "name": row["name"], "role": row["role"],
        "status": row["status"], "created_at": when(row["created_at"]),
        "last_used_at": when(row["last_used_at"]), "expires_at": when(row["expires_at"]),
        "revoked_at": when(row["revoked_at"]), "rotated_from": row["rotated_from"],
    }


async def list_keys(request: Request) -> Response:
    res: Resources = request.app.state.resources
    key = await require(request, "admin")
    wanted = page_request(request, (key_admin.parse_time, str))
    rows = await key_admin.listing(res.db, key.organization_id, wanted)
    return JSONResponse(page(rows, wanted, lambda r: (r["created_at"], r["key_id"]), render))


async def create_key(request: Request) -> Response:
    res: Resources = request.app.state.resources
    key = await require(request, "admin")
    body = await read_json_object(request, _BODY_LIMIT)
    only(body, ("role", "name", "expires_at"), ("role", "name"))
    if body["role"] not in ROLES:
        raise invalid(f"`role` must be one of {', '.join(ROLES)}", fields=["role"])
    name = text_field(body, "name", key_admin.NAME_MAX)
    assert name is not None
    expires_at = _time_field(body, "expires_at")
    new = await key_admin.create_key(res.db, key.actor, body["role"], name, key.organization_id,
                                     expires_at)
    return await _shown_once(res, key.organization_id, new.key_id, new.presented)


async def revoke_key(request: Request) -> Response:
    res: Resources = request.app.state.resources
    key = await require(request, "admin")
    key_id = request.path_params["key_id"]
    await key_admin.revoke_key(res.db, key.actor, key_id, key.organization_id)
    # Every process hears of it from PostgreSQL; this one must not wait for that to arrive.
    VerifiedKeys.of(request).forget_all()
    (row,) = await key_admin.listing(res.db, key.organization_id, key_id=key_id)
    return JSONResponse(render(row))


async def rotate_key(request: Request) -> Response:
    res: Resources = request.app.state.resources
    key = await require(request, "admin")
    # The body is optional: no body, or no field, is the default overlap.
    has_body = request.headers.get("content-length", "0") != "0" or (
        "transfer-encoding" in request.headers)
    body = await read_json_object(request, _BODY_LIMIT) if has_body else {}
    only(body, ("old_valid_until",))
    until = _time_field(body, "old_valid_until", key_admin.MAX_ROTATION_OVERLAP)
    rotated = await key_admin.rotate_key(res.db, key.actor, request.path_params["key_id"],
                                         key.organization_id, until)
    VerifiedKeys.of(request).forget_all()
    return await _shown_once(res, key.organization_id, rotated.new.key_id, rotated.new.presented,
                             old_valid_until=rotated.old_valid_until.isoformat())


def _time_field(body: dict[str, Any], field: str,
                most: dt.timedelta | None = None) -> dt.datetime | None:
    value = body.get(field)
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        return key_admin.future(key_admin.parse_time(value), most)
    except ValueError as exc:
        # The messages name the rule, never the value.
        raise invalid(f"`{field}`: {exc}",
                      fields=[field]) from None


async def _shown_once(res: Resources, organization_id: uuid.UUID, key_id: str,
                      presented: str, **extra: str) -> Response:
    (row,) = await key_admin.listing(res.db, organization_id, key_id=key_id)
    return JSONResponse({**render(row), **extra, "key": presented}, 201,
                        headers={"Cache-Control": "no-store"})
