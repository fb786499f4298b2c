"""Retry policy: which delivery failures are worth another try, and when. Pure, no I/O."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum, StrEnum


class Verdict(Enum):
    RETRY = "retry"
    FAIL = "fail"


class ErrorClass(StrEnum):
    """Stored in ``messages.last_error_class`` and shown to senders; never carries an address."""

    TLS_UNAVAILABLE = "tls_unavailable"  # relay offered no STARTTLS, or refused it
    TLS_CERTIFICATE = "tls_certificate"  # certificate not trusted or not for this host
    TLS_HANDSHAKE = "tls_handshake"  # handshake failed or negotiated below TLS 1.2
    NETWORK = "network"  # connect refused, reset, timed out
    BEFORE_TLS = "smtp_before_tls"  # greeting or EHLO refused before verified TLS
    REQUIRETLS_UNSUPPORTED = "requiretls_unsupported"  # SMTP_REQUIRETLS=required, not offered
    AUTH = "smtp_auth"  # relay refused our credentials
    TEMPORARY = "smtp_temporary"  # 4xx reply
    PERMANENT = "smtp_permanent"  # 5xx reply
    MAILBOX_UNKNOWN = "mailbox_unknown"  # 5.1.x: the address does not exist
    GAVE_UP = "gave_up"  # retried until the give-up time


@dataclass(frozen=True, slots=True)
class Failure:
    error_class: ErrorClass
    code: int | None = None  # SMTP reply code when there was one
    enhanced: str | None = None  # RFC 3463 status such as "5.1.1"


def verdict(failure: Failure) -> Verdict:
    # TLS and auth problems are configuration on one side or the other: an operator can fix them
    # without the message changing, so the message waits rather than being dropped.
    if failure.error_class in (ErrorClass.PERMANENT, ErrorClass.MAILBOX_UNKNOWN):
        return Verdict.FAIL
    return Verdict.RETRY


class Phase(StrEnum):
    """Where in the session a reply came from."""

    GREETING = "greeting"
    EHLO = "ehlo"  # EHLO or HELO before STARTTLS
    STARTTLS = "starttls"
    # EHLO and AUTH inside verified TLS: a refusal there is about our session (a host name,
    # credentials), not any one message, so no message ends on it.
    SESSION = "session"
    IN_TLS = "in_tls"  # a message's own commands, inside the verified TLS session


# Replies that refuse our credentials (RFC 4954), wherever they come.
_AUTH_CODES = (530, 534, 535, 538)


def classify_reply(code: int, message: str, phase: Phase) -> Failure:
    """A reply's failure class. Before verified TLS a reply is unauthenticated: anyone on the path
    can forge a 5xx there (or strip STARTTLS), so it is never final. The message waits, and only
    the give-up time ends it; a refusal inside verified TLS is the relay's own word."""
    enhanced = _enhanced_status(message)
    if phase is Phase.STARTTLS:
        return Failure(ErrorClass.TLS_UNAVAILABLE, code, enhanced)
    if phase is Phase.SESSION:
        auth = code in _AUTH_CODES
        return Failure(ErrorClass.AUTH if auth else ErrorClass.TEMPORARY, code, enhanced)
    if phase is not Phase.IN_TLS:
        return Failure(ErrorClass.BEFORE_TLS, code, enhanced)
    if 400 <= code < 500:
        return Failure(ErrorClass.TEMPORARY, code, enhanced)
    if code in _AUTH_CODES:
        return Failure(ErrorClass.AUTH, code, enhanced)
    if enhanced is not None and enhanced.startswith("5.1."):
        return Failure(ErrorClass.MAILBOX_UNKNOWN, code, enhanced)
    if 500 <= code < 600:
        return Failure(ErrorClass.PERMANENT, code, enhanced)
    # Anything else is a protocol oddity; retrying is the safe side.
    return Failure(ErrorClass.TEMPORARY, code, enhanced)


def _enhanced_status(message: str) -> str | None:
    head = message.strip().split(" ", 1)[0]
    parts = head.split(".")
    if len(parts) == 3 and parts[0] in ("2", "4", "5") and all(p.isdigit() for p in parts[1:]):
        return head
    return None


# Backoff as data: base delay doubles per attempt up to the cap, with full jitter so a relay that
# comes back is not hit by every waiting message in the same second.
BACKOFF_BASE_SECONDS = 30.0
BACKOFF_CAP_SECONDS = 3600.0


def backoff_seconds(attempt: int, rng: random.Random | None = None) -> float:
    """Delay before the next try, after ``attempt`` tries (1-based)."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempt - 1))
    draw = float((rng or random).uniform(0.5, 1.0))
    return float(ceiling * draw)


@dataclass(frozen=True, slots=True)
class Step:
    retry: bool
    delay_seconds: float = 0.0


def next_step(
    failure: Failure, attempts: int, seconds_until_give_up: float, rng: random.Random | None = None
) -> Step:
    """After a failed attempt: retry later, or stop. Stops once the next try would fall after
    the give-up time, so a message never waits longer than configured."""
    if verdict(failure) is Verdict.FAIL:
        return Step(retry=False)
    delay = backoff_seconds(attempts, rng)
    if delay > seconds_until_give_up:
        return Step(retry=False)
    return Step(retry=True, delay_seconds=delay)
