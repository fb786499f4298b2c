"""Statistical disclosure control for everything the metrics API and the dashboard show: which
engagement figures may be published, and how each is shown. Decisions only; no I/O.

The method, and why each part is there:

1. **Primary suppression, CMS cell-size rule.** A count from 1 to k-1 (k = 11 by default) is
   shown as ``"<11"``; zero is shown, it reveals no one. A rate is withheld whenever its
   numerator is not shown, since rate x denominator would give it back.

2. **Fixed, non-overlapping reporting periods, released once and frozen.** Engagement is
   published only per campaign and per period: whole UTC days in bins of ``PERIOD_DAYS``
   counted from the campaign's first day, shown only once the period has ended and settled
   (``SETTLE_DAYS``), and counts arriving after that are dropped (``accepts_day``). No figure
   spans a caller-chosen range, there is no total across periods and none across campaigns, so
   there is nothing to difference: two requests whose ranges differ by one day show the same
   figures for every campaign both list (a range only chooses which campaigns are listed), a
   figure never changes after it is shown (so no release differs from an earlier one), and a
   marketer's and an admin's views show identical figures for the campaigns both see. This is
   the "restricted query set / fixed tabulation" control (Hundepool et al., *Statistical
   Disclosure Control*, Wiley 2012, 5.5 on linked tables and differencing; the same reason the
   U.S. Census Bureau publishes fixed tabulations rather than answering arbitrary ranges):
   cumulative "so far" totals are left out on purpose, because each update would show one
   period's small count as the difference from the last.

3. **Complementary (secondary) suppression where figures are still related.** Inside a period
   one relation remains: unique clickers on any link are the union of the clickers of each link,
   so ``max(links) <= unique <= sum(links)``. With one link's count suppressed and the rest
   shown, ``unique - sum(other links)`` is a lower bound on it. ``protect_union`` withholds
   further cells (the smallest shown link first, else the union itself) until no suppressed
   count can be bounded above 1 from what is shown, i.e. nothing narrows it beyond what "<11"
   already says (the CMS policy's "no ... mathematical formulas ... if they result in the
   display of a cell 10 or less"). A cell withheld this way holds k or more and is shown as
   ``"withheld"``. The other relations left (unique <= total for one measure) cannot narrow a
   suppressed count: a shown unique of k or more makes the total k or more.

Delivery counts (delivered, bounced, failed) are not suppressed: ``GET /v1/campaigns/{id}``
shows them exactly, so they are treated as public margins, and every protection above holds
with them known.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_MIN_CELL = 11
WITHHELD = "withheld"
PERIOD_DAYS = 7
# Hits land in their UTC day and reach PostgreSQL within seconds; a full day's margin before a
# period is shown, and nothing taken for it after that.
SETTLE_DAYS = 1


@dataclass(frozen=True, slots=True)
class Shown:
    """A count as it may be shown: an int, ``"<k"``, or ``"withheld"``."""

    value: int | str
    suppressed: bool


def show_count(count: int, k: int = DEFAULT_MIN_CELL) -> Shown:
    if 0 < count < k:
        return Shown(f"<{k}", True)
    return Shown(count, False)


def show_rate(numerator: Shown, denominator: int) -> float | None:
    """To 4 decimal places; None when the numerator is not shown or the rate is undefined. The
    denominators are delivery counts, which are shown exactly."""
    if numerator.suppressed or denominator <= 0 or not isinstance(numerator.value, int):
        return None
    return round(min(numerator.value, denominator) / denominator, 4)


def protect_union(
    whole: int, parts: Sequence[int], k: int = DEFAULT_MIN_CELL
) -> tuple[Shown, list[Shown]]:
    """The union ``whole`` of sets sized ``parts``, each shown so that no suppressed part can be
    bounded from below by more than 1 (see the module's note 3)."""
    top = show_count(whole, k)
    shown = [show_count(part, k) for part in parts]
    withheld = Shown(WITHHELD, True)
    while _narrowed(whole, top, parts, shown, k):
        candidates = [i for i, s in enumerate(shown) if not s.suppressed and parts[i] >= k]
        if candidates:
            shown[min(candidates, key=lambda i: parts[i])] = withheld
        elif not top.suppressed:
            top = withheld
        else:
            break
    return top, shown


def _narrowed(whole: int, top: Shown, parts: Sequence[int], shown: list[Shown], k: int) -> bool:
    """Whether some "<k" part is at least 2 by what is shown: the union's least possible value
    minus the most all the other parts can hold."""
    if top.suppressed and top.value != WITHHELD:
        return False  # a small union makes every part small: nothing to narrow
    least = k if top.suppressed else whole
    ceiling = None if top.suppressed else whole  # a withheld part is at most the union
    most = [parts[i] if not s.suppressed else ceiling if s.value == WITHHELD else k - 1
            for i, s in enumerate(shown)]
    for j, s in enumerate(shown):
        others = most[:j] + most[j + 1:]
        if s.value == f"<{k}" and None not in others:
            if least - sum(m for m in others if m is not None) >= 2:
                return True
    return False


def published_periods(first_day: dt.date, today: dt.date) -> int:
    """How many of a campaign's periods, counted from its first day, may be shown today."""
    return max(0, ((today - first_day).days - SETTLE_DAYS) // PERIOD_DAYS)


def period_days(first_day: dt.date, period: int) -> tuple[dt.date, dt.date]:
    """The first and last day of a period (0 is the first)."""
    start = first_day + dt.timedelta(PERIOD_DAYS * period)
    return start, start + dt.timedelta(PERIOD_DAYS - 1)


def accepts_day(day: dt.date, today: dt.date) -> bool:
    """Whether counts of ``day`` may still be added: never to a period that may be shown."""
    return day >= today - dt.timedelta(SETTLE_DAYS)
