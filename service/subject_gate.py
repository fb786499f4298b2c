"""Applies the subject rules to a send: loads the allowlist, runs the detector, raises the
API's problem. Never logs or echoes the subject: it may be exactly the PHI being refused."""

from __future__ import annotations

import time
from collections.abc import Sequence

import asyncpg

from service.policy.subject_rules import decide_subject
from service.policy.subjects import SubjectPolicy
from service.problems import Problem
from service.queries import QUERIES


class ApprovedSubjects:
    """The admins' allowlist, re-read at most every few seconds (it is small and rarely
    changes); a change made through this process is seen at once."""

    def __init__(self, ttl: float = 5.0) -> None:
        self._ttl = ttl
        self._loaded_at = -float("inf")
        self._subjects: frozenset[str] = frozenset()

    async def get(self, db: asyncpg.Pool) -> frozenset[str]:
        if time.monotonic() - self._loaded_at > self._ttl:
            rows = await db.fetch(QUERIES.approved_subjects)
            self._subjects = frozenset(r["normalized"] for r in rows)
            self._loaded_at = time.monotonic()
        return self._subjects

    def invalidate(self) -> None:
        self._loaded_at = -float("inf")


async def enforce_subject(
    db: asyncpg.Pool, approved: ApprovedSubjects, policy: SubjectPolicy, mode: str,
    subject: str, *, recipient_email: str | None = None, recipient_names: Sequence[str] = (),
) -> None:
    decision = decide_subject(
        subject, mode, await approved.get(db),
        lambda s: policy.check(s, recipient_names=recipient_names,
                               recipient_email=recipient_email),
    )
    if not decision.ok:
        raise Problem(
            422, "subject-not-generic", "The subject line is not generic", decision.reason,
            category=decision.category,
        )
