"""Campaign pacing and progress arithmetic. Pure.

Pacing is data: at fan-out the n-th message of a campaign becomes due at start + n / rate, so
any number of workers on any number of machines together keep the rate without talking to each
other, and a pause or a resume is one UPDATE of those due times.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from service.campaigns.lanes import campaign_position


def due_at(start: dt.datetime, position: int, rate_per_second: float) -> dt.datetime:
    return start + dt.timedelta(seconds=position / rate_per_second)


def lane_pace(start: dt.datetime, lane: int, lanes: int, lane_position: int,
              rate_per_second: float) -> tuple[dt.datetime, float]:
    """When a lane's next message is due, and the seconds between its successive messages:
    the schedule of a whole batch, which the database then lays out row by row."""
    first = campaign_position(lane, lanes, lane_position)
    step = campaign_position(lane, lanes, lane_position + 1) - first
    return due_at(start, first, rate_per_second), step / rate_per_second


@dataclass(frozen=True, slots=True)
class Pace:
    """What the worker will do with a campaign's remaining messages. Times are seconds from now
    on the database's clock (the one the due times are kept on), negative when past."""

    rate_per_second: float
    # SMTP_MAX_RATE: the relay's ceiling, shared by every worker; 0 for none.
    relay_max_rate: int
    # The schedule's start: when it was started, or its scheduled time when that is later.
    start_in: float | None
    # The latest due time of its waiting messages (queued or retrying, not parked by a pause).
    last_due_in: float | None


def eta_seconds(pace: Pace, waiting: int, created: int, not_fanned_out: int) -> float:
    """Seconds until the last remaining message goes: the latest due time the schedule gives
    (the not yet fanned-out rows take the positions after the ``created`` messages, at the
    campaign's rate), or, when the pace the worker can sustain is slower, ``now + remaining /
    that pace``. ``waiting`` counts the messages not yet sent, in flight included."""
    remaining = waiting + not_fanned_out
    if remaining == 0:
        return 0.0
    sustained = pace.rate_per_second
    if pace.relay_max_rate:
        sustained = min(sustained, pace.relay_max_rate)
    planned = pace.last_due_in or 0.0
    if not_fanned_out and pace.start_in is not None:
        last_position = created + not_fanned_out - 1
        planned = max(planned, pace.start_in + last_position / pace.rate_per_second)
    return max(planned, remaining / sustained)


@dataclass(frozen=True, slots=True)
class Progress:
    staged: int
    excluded: dict[str, int]
    queued: int
    sending: int
    sent: int
    retrying: int
    failed: int
    # Accepted by the relay, then bounced back (inbound reports).
    bounced: int
    rejected: int
    current_rate: float
    eta_seconds: float | None


def progress(staged: int, excluded: Mapping[str, int], by_status: Mapping[str, int],
             sent_last_minute: int, pace: Pace, active: bool) -> Progress:
    """``eta_seconds`` is None for a campaign that is not running (a draft, a paused one) and
    has something left to send."""
    waiting = sum(by_status.get(status, 0) for status in ("queued", "retrying", "sending"))
    created = sum(by_status.values())
    not_fanned_out = max(0, staged - sum(excluded.values()) - created)
    eta: float | None = None
    if active or not waiting + not_fanned_out:
        eta = eta_seconds(pace, waiting, created, not_fanned_out)
    return Progress(
        staged=staged, excluded=dict(excluded), queued=by_status.get("queued", 0),
        sending=by_status.get("sending", 0), sent=by_status.get("sent", 0),
        retrying=by_status.get("retrying", 0), failed=by_status.get("failed", 0),
        bounced=by_status.get("bounced", 0), rejected=by_status.get("rejected", 0),
        current_rate=round(sent_last_minute / 60, 2),
        eta_seconds=round(eta, 1) if eta is not None else None,
    )
