"""Applies the subject rules to a send: loads the allowlist, runs the detector, raises the
API's problem. Never logs or echoes the subject: it may be exactly the PHI being refused."""

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


class ApprovedSubjects:
    """Each organization's allowlist, kept by its admins, re-read at most every few seconds (it
    is small and rarely changes); a change made through this process is seen at once."""

    def __init__(self, ttl: float = 5.0) -> None:
        self._ttl = ttl
        self._loaded: dict[uuid.UUID, tuple[float, frozenset[str]]] = {}

    async def get(self, db: asyncpg.Pool, organization_id: uuid.UUID) -> frozenset[str]:
        loaded = self._loaded.get(organization_id)
        if loaded is None or time.monotonic() - loaded[0] > self._ttl:
            rows = await db.fetch(QUERIES.approved_subjects, organization_id)
            loaded = self._loaded[organization_id] = (
                time.monotonic(), frozenset(r["normalized"] for r in rows))
        return loaded[1]

    def invalidate(self, organization_id: uuid.UUID) -> None:
        self._loaded.pop(organization_id, None)


class SubjectGate:
    """One per API process, and one per worker for scheduled messages: the detector (its lexicon
    loaded once) and the allowlist cache.

    Made in the app's lifespan and kept on the app's state (``attach``); routes reach it with
    ``SubjectGate.of(request)``.
    """

    def __init__(self, clinic_name: str) -> None:
        self.policy = SubjectPolicy(allowed_phrases=(clinic_name,))
        self.approved = ApprovedSubjects()

    def attach(self, state: Any) -> None:
        state.subject_gate = self

    @staticmethod
    def of(request: Request) -> SubjectGate:
        gate: SubjectGate = request.app.state.subject_gate
        return gate

    async def decide(
        self, db: asyncpg.Pool, mode: str, subject: str, organization_id: uuid.UUID, *,
        recipient_email: str | None = None, recipient_names: Sequence[str] = (),
    ) -> SubjectDecision:
        return decide_subject(
            subject, mode, await self.approved.get(db, organization_id),
            lambda s: self.policy.check(s, recipient_names=recipient_names,
                                        recipient_email=recipient_email),
        )

    async def enforce(
        self, db: asyncpg.Pool, mode: str, subject: str, organization_id: uuid.UUID, *,
        recipient_email: str | None = None, recipient_names: Sequence[str] = (),
    ) -> None:
        decision = await self.decide(db, mode, subject, organization_id,
                                     recipient_email=recipient_email,
                                     recipient_names=recipient_names)
        if not decision.ok:
            raise Problem(
                422, "subject-not-generic", "The subject line is not generic", decision.reason,
                category=decision.category,
            )
