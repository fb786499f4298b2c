"""HTML of the delivery health page: figures in words and tables, and the last 24 hours as
server-drawn SVG with the same figures in a table beside it. Every value is escaped."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from service.admin import charts
from service.admin.layout import Staff, staff_page
from service.admin.tables import counts, number, table
from service.core import paths
from service.core.clinic import Clinic
from service.core.message_status import RETIRED

# delivery/retry.py's failure classes (messages.last_error_class, message_events.error_class)
# in words, and whether each is a TLS failure. A class added there and not here is shown as is.
CLASSES: dict[str, tuple[str, bool]] = {
    "tls_unavailable": ("TLS: the relay offered no STARTTLS, or refused it", True),
    "tls_certificate": ("TLS: the relay's certificate is not trusted, or not for its host", True),
    "tls_handshake": ("TLS: the handshake failed, or offered less than TLS 1.2", True),
    "requiretls_unsupported": ("TLS: the relay does not offer REQUIRETLS", True),
    "network": ("Network: connection refused, reset or timed out", False),
    "smtp_before_tls": ("Refused before TLS was set up (greeting or EHLO)", False),
    "smtp_auth": ("The relay refused the service's credentials", False),
    "smtp_temporary": ("Temporary refusal (4xx)", False),
    "smtp_permanent": ("Permanent refusal (5xx)", False),
    "mailbox_unknown": ("The address does not exist (5.1.x)", False),
    "gave_up": ("Retried until the give-up time", False),
    "worker_lost": ("A worker stopped while sending", False),
}


def describe_class(error_class: str) -> tuple[str, bool]:
    """A failure class in words, and whether it is a TLS failure. The worker records a message
    it stopped retrying as its cause and "gave_up" (``tls_certificate+gave_up``): that reads as
    the cause, then given up, and counts as the cause does."""
    cause, _, then = error_class.partition("+")
    words, tls = CLASSES.get(cause, (cause, False))
    if then:
        words += "; then " + CLASSES.get(then, (then, False))[0].lower()
    return words, tls


# What the hourly chart shows, from the delivery-hours query's columns.
SERIES = (("sent", "Delivered"), ("retried", "Retried"), ("failed", "Failed"),
          ("bounced", "Bounced"), ("complaints", "Complaints"))
_WAITING = ("scheduled", "queued", "retrying")


@dataclass(frozen=True, slots=True)
class Figures:
    # Waiting and in-flight statuses: messages in them now; final ones: messages that reached
    # them since the start (db/sql/messages.sql, messages-by-status).
    by_status: dict[str, int]
    due: int
    jobs: int | None  # None: Redis could not be asked
    complaints: int  # complaint reports, since the start
    retrying: dict[str, int]  # waiting to be retried now, by class
    failures: dict[str, int]  # failed attempts over the last 24 hours, by class
    hours: list[dict[str, Any]]  # delivery-hours' rows, oldest first


def _rate(part: int, whole: int) -> str:
    return f"{part / whole * 100:.2f}%" if whole else "none delivered"


def _summary(f: Figures) -> str:
    tls = sum(n for cls, n in f.failures.items() if describe_class(cls)[1])
    items = [
        ("Due for a delivery attempt now", number(f.due)),
        ("Waiting (scheduled, queued or to be retried)",
         number(sum(f.by_status.get(s, 0) for s in _WAITING))),
        ("Being sent", number(f.by_status.get("sending", 0))),
        ("Jobs in the queue",
         "unknown: Redis is unreachable" if f.jobs is None else number(f.jobs)),
        ("TLS failures, last 24 hours", number(tls)),
        ("Deleted by retention (RETENTION_DAYS), since the start",
         number(f.by_status.get(RETIRED, 0))),
    ]
    return counts(items)


def _reasons(f: Figures) -> str:
    classes = sorted(set(f.retrying) | set(f.failures),
                     key=lambda c: (-f.retrying.get(c, 0), -f.failures.get(c, 0), c))
    return table(
        ["Reason", "Waiting to be retried now", "Failed attempts, last 24 hours"],
        [[html.escape(describe_class(c)[0]), number(f.retrying.get(c, 0)),
          number(f.failures.get(c, 0))] for c in classes],
        "No message is waiting to be retried, and no attempt failed in the last 24 hours.")


def _rates(f: Figures) -> str:
    day = {name: sum(h[name] for h in f.hours) for name, _ in SERIES}
    bounced = f.by_status.get("bounced", 0)
    delivered = f.by_status.get("sent", 0)  # messages that reached 'sent', bounced ones too
    return table(
        ["Over", "Delivered", "Bounced", "Bounce rate", "Complaints", "Complaint rate"],
        [["Last 24 hours", number(day["sent"]), number(day["bounced"]),
          _rate(day["bounced"], day["sent"]), number(day["complaints"]),
          _rate(day["complaints"], day["sent"])],
         ["Since the start", number(delivered), number(bounced), _rate(bounced, delivered),
          number(f.complaints), _rate(f.complaints, delivered)]],
        "")


def _hour(row: dict[str, Any]) -> str:
    return f"{row['hour']:%H:00}"


def _timeline(f: Figures) -> str:
    first, last = f.hours[0], f.hours[-1]
    chart = charts.strips(
        "Delivered, retried, failed, bounced and complaints per hour, last 24 hours",
        [charts.Strip(words, [h[name] for h in f.hours]) for name, words in SERIES],
        f"{_hour(first)} UTC, {first['hour']:%d %b}", f"{_hour(last)} UTC (this hour)")
    rows = [[f"{h['hour']:%d %b %H:00}", *(number(h[name]) for name, _ in SERIES)] for h in f.hours]
    return (
        f"{chart}<p class=\"muted\">Each row has its own scale: its tallest column is its "
        "largest hour.</p><details><summary>The same figures, hour by hour</summary>"
        f"{table(['Hour (UTC)', *(words for _, words in SERIES)], rows, '')}</details>"
    )


def health(clinic: Clinic, staff: Staff, f: Figures) -> str:
    if not any(f.by_status.values()):
        body = ("<p>Nothing has been sent yet. Once the service accepts its first message, this "
                "page shows the queue, retries and their reasons, TLS failures, and bounce and "
                f"complaint rates.</p>{_summary(f)}")
    else:
        body = (
            f"<section><h2>Queue</h2>{_summary(f)}</section>"
            f"<section><h2>Retries and failures by reason</h2>{_reasons(f)}</section>"
            f"<section><h2>Bounces and complaints</h2>{_rates(f)}</section>"
            f"<section><h2>The last 24 hours</h2>{_timeline(f)}</section>"
        )
    return staff_page(clinic, "Delivery health", (
        "<h1>Delivery health</h1><p class=\"muted\">For the whole service, in counts only: the "
        f"figures <code>{paths.PROMETHEUS}</code> exposes, for reading rather than scraping."
        f"</p>{body}"
    ), staff, paths.DASHBOARD_HEALTH)
