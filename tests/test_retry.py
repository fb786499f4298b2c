"""The retry policy: which failures wait, which stop, and how long. Table-driven, pure."""

from __future__ import annotations

import random

import pytest

from service.delivery.retry import (
    BACKOFF_CAP_SECONDS,
    ErrorClass,
    Failure,
    Phase,
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
    failure = classify_reply(code, message, Phase.IN_TLS)
    assert failure.error_class is error_class
    assert failure.enhanced == enhanced


# Before verified TLS a reply is unauthenticated: whatever its code, it must not end a message.
PRE_TLS = [Phase.GREETING, Phase.EHLO, Phase.STARTTLS]
PHASE_TABLE = [
    (Phase.GREETING, 554, "No SMTP service here", ErrorClass.BEFORE_TLS),
    (Phase.GREETING, 421, "Service shutting down", ErrorClass.BEFORE_TLS),
    (Phase.GREETING, 500, "Syntax error", ErrorClass.BEFORE_TLS),
    (Phase.EHLO, 550, "5.1.1 No such user", ErrorClass.BEFORE_TLS),  # not a bounce
    (Phase.EHLO, 530, "5.7.0 Must issue STARTTLS first", ErrorClass.BEFORE_TLS),
    (Phase.EHLO, 502, "Command not implemented", ErrorClass.BEFORE_TLS),
    (Phase.STARTTLS, 454, "TLS not available", ErrorClass.TLS_UNAVAILABLE),
    (Phase.STARTTLS, 502, "Command not implemented", ErrorClass.TLS_UNAVAILABLE),
    (Phase.STARTTLS, 354, "do something else", ErrorClass.TLS_UNAVAILABLE),
    (Phase.IN_TLS, 554, "Transaction failed", ErrorClass.PERMANENT),
    (Phase.IN_TLS, 550, "5.1.1 No such user", ErrorClass.MAILBOX_UNKNOWN),
    (Phase.IN_TLS, 421, "Service shutting down", ErrorClass.TEMPORARY),
    # Our session refused inside TLS (a host name, credentials): no message's fault.
    (Phase.SESSION, 504, "5.5.2 Helo command rejected: need fully-qualified hostname",
     ErrorClass.TEMPORARY),
    (Phase.SESSION, 535, "5.7.8 Authentication credentials invalid", ErrorClass.AUTH),
    (Phase.SESSION, 550, "5.1.1 No such user", ErrorClass.TEMPORARY),
]


@pytest.mark.parametrize(("phase", "code", "message", "error_class"), PHASE_TABLE)
def test_replies_before_verified_tls_never_fail_a_message(
    phase: Phase, code: int, message: str, error_class: ErrorClass
) -> None:
    failure = classify_reply(code, message, phase)
    assert failure.error_class is error_class
    assert failure.code == code
    final = verdict(failure) is Verdict.FAIL
    assert final == (phase is Phase.IN_TLS and code >= 500)


@pytest.mark.parametrize("phase", [*PRE_TLS, Phase.SESSION])
@pytest.mark.parametrize("code", [220, 221, 250, 354, 421, 450, 500, 530, 535, 550, 554, 599])
def test_no_code_before_verified_tls_is_final(phase: Phase, code: int) -> None:
    failure = classify_reply(code, "5.1.1 anything", phase)
    assert verdict(failure) is Verdict.RETRY
    step = next_step(failure, 1, 48 * 3600, random.Random(0))
    assert step.retry
    # ... until the give-up time: then it stops like any temporary failure.
    assert not next_step(failure, 1, 1, random.Random(0)).retry


@pytest.mark.parametrize(
    ("error_class", "expected"),
    [
        (ErrorClass.TLS_UNAVAILABLE, Verdict.RETRY),
        (ErrorClass.TLS_CERTIFICATE, Verdict.RETRY),
        (ErrorClass.TLS_HANDSHAKE, Verdict.RETRY),
        (ErrorClass.NETWORK, Verdict.RETRY),
        (ErrorClass.BEFORE_TLS, Verdict.RETRY),
        (ErrorClass.REQUIRETLS_UNSUPPORTED, Verdict.RETRY),
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
