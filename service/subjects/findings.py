"""What a detector found: a category and where, in the folded subject's coordinates."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Finding:
    category: str
    start: int
    end: int
