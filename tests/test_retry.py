"""The retry policy: which failures wait, which stop, and how long. Table-driven, pure."""

from __future__ import annotations

import random

import pytest

from service.delivery.retry import (
    BACKOFF_CAP_SECONDS,
    ErrorClass,
    Failure,
    Verdict,
    backoff_seconds,
    classify_reply,
    next_step,
    verdict,
)


@pytest.mark.parametrize(
    ("code", "message", "error_class", "enhanced"),
    [
        (421, "4.7.0 Try again later", ErrorClass.TEMPORARY, "4.7.0"),
        (450, "Mailbox busy", ErrorClass.TEMPORARY, None),
        (451, "4.3.0 Local error", ErrorClass.TEMPORARY, "4.3.0"),
        (452, "4.2.2 Mailbox full", ErrorClass.TEMPORARY, "4.2.2"),
        (550, "5.1.1 No such user", ErrorClass.MAILBOX_UNKNOWN, "5.1.1"),
        (550, "5.1.10 Null MX", ErrorClass.MAILBOX_UNKNOWN, "5.1.10"),
        (553, "5.1.3 Bad address syntax", ErrorClass.MAILBOX_UNKNOWN, "5.1.3"),
        (550, "5.7.1 Rejected by policy", ErrorClass.PERMANENT, "5.7.1"),
        (554, "Transaction failed", ErrorClass.PERMANENT, None),
        (552, "5.3.4 Message too big", ErrorClass.PERMANENT, "5.3.4"),
        (530, "5.7.0 Authentication required", ErrorClass.AUTH, "5.7.0"),
        (535, "5.7.8 Bad credentials", ErrorClass.AUTH, "5.7.8"),
        (250, "odd", ErrorClass.TEMPORARY, None),
    ],
)
def test_replies_are_classified(
    code: int, message: str, error_class: ErrorClass, enhanced: str | None
) -> None:
    failure = classify_reply(code, message)
    assert failure.error_class is error_class
    assert failure.enhanced == enhanced


@pytest.mark.parametrize(
    ("error_class", "expected"),
    [
        (ErrorClass.TLS_UNAVAILABLE, Verdict.RETRY),
        (ErrorClass.TLS_CERTIFICATE, Verdict.RETRY),
        (ErrorClass.TLS_HANDSHAKE, Verdict.RETRY),
        (ErrorClass.NETWORK, Verdict.RETRY),
        (ErrorClass.AUTH, Verdict.RETRY),
        (ErrorClass.TEMPORARY, Verdict.RETRY),
        (ErrorClass.PERMANENT, Verdict.FAIL),
        (ErrorClass.MAILBOX_UNKNOWN, Verdict.FAIL),
    ],
)
def test_verdicts(error_class: ErrorClass, expected: Verdict) -> None:
    assert verdict(Failure(error_class)) is expected


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(1, 15, 30), (2, 30, 60), (3, 60, 120), (5, 240, 480), (8, 1800, 3600), (30, 1800, 3600)],
)
def test_backoff_doubles_with_jitter_up_to_a_cap(attempt: int, low: float, high: float) -> None:
    rng = random.Random(attempt)
    delays = [backoff_seconds(attempt, rng) for _ in range(200)]
    assert all(low <= d <= high for d in delays)
    assert len({round(d, 3) for d in delays}) > 150  # jittered, not a fixed schedule
    assert max(delays) <= BACKOFF_CAP_SECONDS


@pytest.mark.parametrize(
    ("error_class", "attempts", "seconds_left", "retry"),
    [
        (ErrorClass.TEMPORARY, 1, 3600, True),
        (ErrorClass.TLS_UNAVAILABLE, 3, 3600, True),
        (ErrorClass.TEMPORARY, 1, 5, False),  # next try would be after the give-up time
        (ErrorClass.NETWORK, 10, 100, False),
        (ErrorClass.PERMANENT, 1, 3600, False),
        (ErrorClass.MAILBOX_UNKNOWN, 1, 3600, False),
    ],
)
def test_next_step(
    error_class: ErrorClass, attempts: int, seconds_left: float, retry: bool
) -> None:
    step = next_step(Failure(error_class), attempts, seconds_left, random.Random(0))
    assert step.retry is retry
    if retry:
        assert 0 < step.delay_seconds <= seconds_left
