"""``/v1/admin/practice-names``: the organization's own practice names (role admin), removed from
every subject before the detector reads it, like CLINIC_NAME, so "Oak Hill Family Medicine" in a
subject is not taken for a specialty. A name must itself pass the practice-name check: a name that
reveals a specialty or a population ("Oak Hill Cancer Center") is evidence, and is refused.

Never logs or echoes a refused name: an admin may have pasted PHI."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service import audit
from service.access import require
from service.core.bodies import read_json_object
from service.core.pagination import page, page_request
from service.core.problems import Problem, invalid
from service.db.queries import QUERIES
from service.db.resources import Resources
from service.subjects.gate import SubjectGate
from service.subjects.routes import remove_entry
from service.subjects.rules import normalise_for_allowlist

MAX_NAME_CHARS = 120
_BODY_LIMIT = 4096
# C0 and C1 controls, DEL, and the line and paragraph separators: a name is one line of text.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def practice_name(body: dict[str, Any]) -> str:
    """The name of a ``{"name": "..."}`` body, its whitespace collapsed."""
    if set(body) != {"name"} or not isinstance(body["name"], str):
        raise invalid("The body must be {\"name\": \"...\"}", fields=["name"])
    if _CONTROL.search(body["name"]):
        raise invalid("`name` holds a line break or a control character", fields=["name"])
    name = " ".join(body["name"].split())
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        raise invalid(f"`name` must be 1 to {MAX_NAME_CHARS} characters", fields=["name"])
    return name


async def list_practice_names(request: Request) -> Response:
    """Oldest first, a page at a time."""
    res: Resources = request.app.state.resources
    key = await require(request, "admin")
    wanted = page_request(request, (dt.datetime.fromisoformat, uuid.UUID))
    rows = await res.db.fetch(QUERIES.practice_names_page, key.organization_id,
                              *(wanted.after or (None, None)), wanted.limit + 1)
    return JSONResponse(page(rows, wanted, lambda r: (r["created_at"], r["id"]), lambda r: {
        "id": str(r["id"]), "name": r["name"], "created_at": r["created_at"].isoformat()}))


async def add_practice_name(request: Request) -> Response:
    res: Resources = request.app.state.resources
    key = await require(request, "admin")
    name = practice_name(await read_json_object(request, _BODY_LIMIT))
    gate = SubjectGate.of(request)
    verdict = gate.policy.check_practice_name(name)
    if not verdict.ok:
        raise Problem(422, "practice-name-not-generic", "The practice name is not generic",
                      verdict.reason, category=verdict.category or "format")
    async with res.db.acquire() as conn, conn.transaction():
        created = await conn.fetchval(
            QUERIES.insert_practice_name, uuid.uuid4(), name, normalise_for_allowlist(name),
            key.id, key.organization_id,
        )
        if created is None:
            raise Problem(409, "practice-name-already-listed",
                          "This practice name is already listed")
        await audit.record(conn, actor=key.actor, action="practice_name.add",
                           object_type="practice_name", object_id=str(created), outcome="added")
    gate.practice_names.invalidate(key.organization_id)
    return JSONResponse({"id": str(created), "name": name}, 201)


async def remove_practice_name(request: Request) -> Response:
    return await remove_entry(request, "practice_name_id", QUERIES.delete_practice_name,
                              "practice_name", SubjectGate.of(request).practice_names)
