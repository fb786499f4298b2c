"""Small-cell suppression for everything the metrics API and the dashboard show.

Following CMS's cell-size suppression policy: a count from 1 to k-1 (k = 11 by default) is shown
as ``"<11"``, and a rate whose numerator or denominator is such a count is withheld, since the
exact count could be recovered from it. Zero is shown: it reveals no one.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MIN_CELL = 11


@dataclass(frozen=True, slots=True)
class Shown:
    """A count as it may be shown: ``value`` is an int, or the string ``"<k"``."""

    value: int | str
    suppressed: bool


def show_count(count: int, k: int = DEFAULT_MIN_CELL) -> Shown:
    if 0 < count < k:
        return Shown(f"<{k}", True)
    return Shown(count, False)


def show_rate(numerator: int, denominator: int, k: int = DEFAULT_MIN_CELL) -> float | None:
    """The rate to 4 decimal places, or None when it is withheld or undefined."""
    if denominator <= 0:
        return None
    if show_count(numerator, k).suppressed or show_count(denominator, k).suppressed:
        return None
    return round(min(numerator, denominator) / denominator, 4)
