"""``/v1/admin/subjects``: the approved-subject allowlist (role admin). An entry must itself pass
the subject detector (with the organization's practice names, as a send would): approving a
subject is not a way around the rules."""

from __future__ import annotations

import datetime as dt
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service import audit
from service.access import require
from service.core.bodies import read_json_object
from service.core.fields import path_id
from service.core.pagination import page, page_request
from service.core.problems import Problem, invalid
from service.db.queries import QUERIES
from service.db.resources import Resources
from service.subjects.gate import OrganizationList, SubjectGate, subject_problem
from service.subjects.policy import REASONS, SubjectVerdict
from service.subjects.rules import normalise_for_allowlist

_BODY_LIMIT = 4096


async def list_subjects(request: Request) -> Response:
    """Oldest first, a page at a time, with the mode that says whether the list is in force."""
    res: Resources = request.app.state.resources
    key = await require(request, "admin")
    wanted = page_request(request, (dt.datetime.fromisoformat, uuid.UUID))
    rows = await res.db.fetch(QUERIES.approved_subjects_page, key.organization_id,
                              *(wanted.after or (None, None)), wanted.limit + 1)
    listed = page(rows, wanted, lambda r: (r["created_at"], r["id"]), lambda r: {
        "id": str(r["id"]), "subject": r["subject"], "created_at": r["created_at"].isoformat()})
    return JSONResponse({**listed, "mode": res.settings.subject_mode})


async def add_subject(request: Request) -> Response:
    res: Resources = request.app.state.resources
    key = await require(request, "admin")
    body = await read_json_object(request, _BODY_LIMIT)
    if set(body) != {"subject"} or not isinstance(body["subject"], str):
        raise invalid("The body must be {\"subject\": \"...\"}", fields=["subject"])
    subject = " ".join(body["subject"].split())
    gate = SubjectGate.of(request)
    # Judged as a send would be: the organization's practice names are not evidence.
    verdict = gate.policy.check_approval(
        subject, practice_names=await gate.practice_names_of(res.db, key.organization_id))
    if any(ord(ch) < 32 for ch in body["subject"]):
        verdict = SubjectVerdict(False, "format", REASONS["format"])
    if not verdict.ok:
        raise subject_problem(verdict.category, verdict.reason, verdict.span)
    subject_id = uuid.uuid4()
    async with res.db.acquire() as conn, conn.transaction():
        created = await conn.fetchval(
            QUERIES.insert_approved_subject, subject_id, subject,
            normalise_for_allowlist(subject), key.id, key.organization_id,
        )
        if created is None:
            raise Problem(409, "subject-already-approved", "This subject is already approved")
        await audit.record(conn, actor=key.actor, action="subject.approve",
                           object_type="subject", object_id=str(created), outcome="approved")
    gate.approved.invalidate(key.organization_id)
    return JSONResponse({"id": str(created), "subject": subject}, 201)


async def remove_subject(request: Request) -> Response:
    return await remove_entry(request, "subject_id", QUERIES.delete_approved_subject, "subject",
                              SubjectGate.of(request).approved)


async def remove_entry(
    request: Request, id_param: str, query: str, object_type: str, listed: OrganizationList,
) -> Response:
    """Removes one entry of an organization's admin-kept list (approved subjects, practice
    names), audited as ``<object_type>.remove``; this process sees the change at once."""
    res: Resources = request.app.state.resources
    key = await require(request, "admin")
    entry_id = path_id(request, id_param)
    async with res.db.acquire() as conn, conn.transaction():
        removed = await conn.fetchval(query, entry_id, key.organization_id)
        if removed is None:
            raise Problem(404, "not-found", "Not found")
        await audit.record(conn, actor=key.actor, action=f"{object_type}.remove",
                           object_type=object_type, object_id=str(removed), outcome="removed")
    listed.invalidate(key.organization_id)
    return Response(status_code=204)
