"""Applies the subject rules to a send: loads the allowlist and the practice names, runs the
detector, raises the API's problem. Never logs or echoes the subject: it may be exactly the PHI
being refused."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
from starlette.requests import Request

from service.core.problems import Problem
from service.db.queries import QUERIES
from service.subjects.policy import SubjectPolicy
from service.subjects.rules import SubjectDecision, decide_subject


class OrganizationList:
    """One list each organization's admins keep (the approved subjects, the practice names), read
    by ``query`` (the organization's id its one parameter) from its ``column``, and re-read at most
    every few seconds (it is small and rarely changes); a change made through this process is
    seen at once."""

    def __init__(self, query: str, column: str, ttl: float = 5.0) -> None:
        self._query = query
        self._column = column
        self._ttl = ttl
        self._loaded: dict[uuid.UUID, tuple[float, frozenset[str]]] = {}

    async def get(self, db: asyncpg.Pool, organization_id: uuid.UUID) -> frozenset[str]:
        loaded = self._loaded.get(organization_id)
        if loaded is None or time.monotonic() - loaded[0] > self._ttl:
            rows = await db.fetch(self._query, organization_id)
            loaded = self._loaded[organization_id] = (
                time.monotonic(), frozenset(r[self._column] for r in rows))
        return loaded[1]

    def invalidate(self, organization_id: uuid.UUID) -> None:
        self._loaded.pop(organization_id, None)


class SubjectGate:
    """One per API process, and one per worker for scheduled messages: the detector (its lexicon
    loaded once) and the caches of the organizations' allowlists and practice names.

    Made in the app's lifespan and kept on the app's state (``attach``); routes reach it with
    ``SubjectGate.of(request)``.
    """

    def __init__(self, clinic_name: str) -> None:
        self.policy = SubjectPolicy(allowed_phrases=(clinic_name,))
        # Normalised entries (rules.normalise_for_allowlist), matched against the whole subject.
        self.approved = OrganizationList(QUERIES.approved_subjects, "normalized")
        # Names as the admins wrote them: the detector folds them as it folds the subject.
        self.practice_names = OrganizationList(QUERIES.practice_names, "name")

    def attach(self, state: Any) -> None:
        state.subject_gate = self

    @staticmethod
    def of(request: Request) -> SubjectGate:
        gate: SubjectGate = request.app.state.subject_gate
        return gate

    async def decide(
        self, db: asyncpg.Pool, mode: str, subject: str, organization_id: uuid.UUID, *,
        recipient_email: str | None = None, recipient_names: Sequence[str] = (),
        keep: bool = False,
    ) -> SubjectDecision:
        """``keep``: a send's subject, which the clinic will likely send again
        (``SubjectPolicy.check``)."""
        practice_names = await self.practice_names_of(db, organization_id)
        return decide_subject(
            subject, mode, await self.approved.get(db, organization_id),
            lambda s: self.policy.check(s, recipient_names=recipient_names,
                                        recipient_email=recipient_email,
                                        practice_names=practice_names, strict=mode == "strict",
                                        keep=keep),
        )

    async def practice_names_of(
        self, db: asyncpg.Pool, organization_id: uuid.UUID,
    ) -> tuple[str, ...]:
        """The organization's practice names, which the detector removes from a subject before it
        reads it (as it removes CLINIC_NAME): the clinic's own words are not evidence. Sorted,
        so the same list is always applied the same way."""
        return tuple(sorted(await self.practice_names.get(db, organization_id)))

    async def enforce(
        self, db: asyncpg.Pool, mode: str, subject: str, organization_id: uuid.UUID, *,
        recipient_email: str | None = None, recipient_names: Sequence[str] = (),
        keep: bool = False,
    ) -> None:
        decision = await self.decide(db, mode, subject, organization_id,
                                     recipient_email=recipient_email,
                                     recipient_names=recipient_names, keep=keep)
        if not decision.ok:
            raise subject_problem(decision.category, decision.reason, decision.span)


def subject_problem(category: str | None, reason: str, span: tuple[int, int] | None) -> Problem:
    """The 422 for a refused subject: its category and where the refused part is, never what
    it says."""
    where = {"span": {"start": span[0], "end": span[1]}} if span is not None else {}
    return Problem(422, "subject-not-generic", "The subject line is not generic", reason,
                   category=category or "format", **where)
