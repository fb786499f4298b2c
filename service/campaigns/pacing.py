"""Campaign pacing and progress arithmetic. Pure.

Pacing is data: at fan-out the n-th message of a campaign becomes due at start + n / rate, so
any number of workers on any number of machines together keep the rate without talking to each
other, and a pause or a resume is one UPDATE of those due times.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass


def due_at(start: dt.datetime, position: int, rate_per_second: float) -> dt.datetime:
    return start + dt.timedelta(seconds=position / rate_per_second)


@dataclass(frozen=True, slots=True)
class Progress:
    staged: int
    excluded: dict[str, int]
    queued: int
    sending: int
    sent: int
    retrying: int
    failed: int
    rejected: int
    current_rate: float
    eta_seconds: float | None


def progress(staged: int, excluded: Mapping[str, int], by_status: Mapping[str, int],
             sent_last_minute: int, rate_per_second: float, active: bool) -> Progress:
    waiting = by_status.get("queued", 0) + by_status.get("retrying", 0)
    not_fanned_out = max(0, staged - sum(excluded.values()) - sum(by_status.values()))
    remaining = waiting + by_status.get("sending", 0) + not_fanned_out
    current = sent_last_minute / 60
    # While running, the configured rate is the best predictor; the observed one once it is known.
    pace = current if current > 0 else rate_per_second
    eta = remaining / pace if active and remaining else (0.0 if not remaining else None)
    return Progress(
        staged=staged, excluded=dict(excluded), queued=by_status.get("queued", 0),
        sending=by_status.get("sending", 0), sent=by_status.get("sent", 0),
        retrying=by_status.get("retrying", 0), failed=by_status.get("failed", 0),
        rejected=by_status.get("rejected", 0), current_rate=round(current, 2),
        eta_seconds=round(eta, 1) if eta is not None else None,
    )
