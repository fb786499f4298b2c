"""Which subjects a send may use: the allowlist, the mode, and the detector's verdict. Pure."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from service.core.fields import HEADER_CONTROL
from service.subjects.policy import SubjectVerdict


def normalise_for_allowlist(subject: str) -> str:
    return " ".join(subject.split()).casefold()


@dataclass(frozen=True, slots=True)
class SubjectDecision:
    ok: bool
    category: str | None = None
    reason: str = ""
    span: tuple[int, int] | None = None


NOT_APPROVED = SubjectDecision(
    False, "not_approved", "only subjects on the approved list may be used"
)


def decide_subject(
    subject: str, mode: str, approved: Collection[str],
    detect: Callable[[str], SubjectVerdict],
) -> SubjectDecision:
    """``detector`` and ``strict`` modes: approved, or passes the detector (which in strict mode
    also refuses words outside the general vocabulary). ``allowlist`` mode: approved only.

    The detector still runs on approved subjects in both modes for control characters, which no
    approved entry can contain; everything else about an approved subject was judged when an
    admin added it.
    """
    if HEADER_CONTROL.search(subject):
        return SubjectDecision(False, "format", "contains line breaks or control characters")
    if normalise_for_allowlist(subject) in approved:
        return SubjectDecision(True)
    if mode == "allowlist":
        return NOT_APPROVED
    verdict = detect(subject)
    return SubjectDecision(verdict.ok, verdict.category, verdict.reason, verdict.span)
