"""``GET /metrics`` in the Prometheus text format, for operators (admin API key).

Label values are only fixed vocabularies (status, handler name, method, status code): never an
address, subject, token or path, so no label can carry PHI. Message figures come from
PostgreSQL (the truth, shared by every process); request figures are this process's own.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from service.access import require
from service.access.rate_limit import RateLimiter
from service.core.message_status import FINAL, IN_FLIGHT, RETIRED
from service.db.queries import QUERIES
from service.db.queue import REDIS_UNREACHABLE
from service.db.resources import Resources
from service.inbound import OUTCOMES

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_QUANTILES = (0.5, 0.95, 0.99)


@dataclass
class RequestStats:
    """HTTP requests by handler, method and status, and a latency histogram by handler."""

    started: float = field(default_factory=time.time)
    counts: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    buckets: dict[str, list[int]] = field(default_factory=dict)
    sums: dict[str, float] = field(default_factory=dict)

    def observe(self, handler: str, method: str, status: int, seconds: float) -> None:
        self.counts[handler, method, status] += 1
        cumulative = self.buckets.setdefault(handler, [0] * (len(_BUCKETS) + 1))
        for index, bound in enumerate(_BUCKETS):
            if seconds <= bound:
                cumulative[index] += 1
        cumulative[-1] += 1
        self.sums[handler] = self.sums.get(handler, 0.0) + seconds

    def lines(self) -> list[str]:
        out = [
            "# HELP hipaa_mail_http_requests_total HTTP requests answered by this process.",
            "# TYPE hipaa_mail_http_requests_total counter",
        ]
        out += [
            f'hipaa_mail_http_requests_total{{handler="{h}",method="{m}",code="{c}"}} {n}'
            for (h, m, c), n in sorted(self.counts.items())
        ]
        out += [
            "# HELP hipaa_mail_http_request_duration_seconds Time to answer, by handler.",
            "# TYPE hipaa_mail_http_request_duration_seconds histogram",
        ]
        for handler, cumulative in sorted(self.buckets.items()):
            name = "hipaa_mail_http_request_duration_seconds"
            for bound, n in zip((*map(str, _BUCKETS), "+Inf"), cumulative, strict=True):
                out.append(f'{name}_bucket{{handler="{handler}",le="{bound}"}} {n}')
            out.append(f'{name}_sum{{handler="{handler}"}} {self.sums[handler]:.6f}')
            out.append(f'{name}_count{{handler="{handler}"}} {cumulative[-1]}')
        return out


async def metrics(request: Request) -> Response:
    res: Resources = request.app.state.resources
    await require(request, "admin")
    by_status = {row["status"]: row["n"] for row in await res.db.fetch(QUERIES.messages_by_status)}
    due = await res.db.fetchval(QUERIES.messages_due_now)
    latency = await res.db.fetchval(QUERIES.recent_delivery_latency, list(_QUANTILES))
    duplicates = await res.db.fetchval(QUERIES.possible_duplicates)
    try:
        jobs: int | None = await res.redis.zcard(res.settings.queue_name)
    except REDIS_UNREACHABLE:
        jobs = None  # Redis is down: no figure rather than a wrong one
    reports: Counter[str] = Counter()
    for row in await res.db.fetch(QUERIES.inbound_report_counts):
        reports[row["outcome"]] += row["n"]
    lines = [
        "# HELP hipaa_mail_messages Messages waiting or being sent now, by status.",
        "# TYPE hipaa_mail_messages gauge",
        *(f'hipaa_mail_messages{{status="{status}"}} {by_status.get(status, 0)}'
          for status in IN_FLIGHT),
        "# HELP hipaa_mail_messages_total Messages that reached a final status (a bounced one"
        " was sent first).",
        "# TYPE hipaa_mail_messages_total counter",
        *(f'hipaa_mail_messages_total{{status="{status}"}} {by_status.get(status, 0)}'
          for status in FINAL),
        "# HELP hipaa_mail_messages_retired_total Messages deleted by retention"
        " (RETENTION_DAYS).",
        "# TYPE hipaa_mail_messages_retired_total counter",
        f"hipaa_mail_messages_retired_total {by_status.get(RETIRED, 0)}",
        "# HELP hipaa_mail_inbound_reports Bounce and complaint reports read, by outcome.",
        "# TYPE hipaa_mail_inbound_reports counter",
        *(f'hipaa_mail_inbound_reports_total{{outcome="{outcome}"}} {reports[outcome]}'
          for outcome in OUTCOMES),
        "# HELP hipaa_mail_messages_due Messages waiting for a delivery attempt now.",
        "# TYPE hipaa_mail_messages_due gauge",
        f"hipaa_mail_messages_due {due}",
        "# HELP hipaa_mail_possible_duplicates Messages sent again after their worker was lost"
        " while the relay may already have taken them (each re-send keeps its Message-ID).",
        "# TYPE hipaa_mail_possible_duplicates counter",
        f"hipaa_mail_possible_duplicates_total {duplicates}",
        *(["# HELP hipaa_mail_queue_jobs Delivery jobs waiting in the Redis queue.",
           "# TYPE hipaa_mail_queue_jobs gauge",
           f"hipaa_mail_queue_jobs {jobs}"] if jobs is not None else []),
        "# HELP hipaa_mail_delivery_latency_seconds Accepted to relayed, last 15 minutes.",
        "# TYPE hipaa_mail_delivery_latency_seconds gauge",
        *(f'hipaa_mail_delivery_latency_seconds{{quantile="{q}"}} {value:.3f}'
          for q, value in zip(_QUANTILES, latency or (), strict=False) if value is not None),
        *request.app.state.request_stats.lines(),
        *RateLimiter.of(request).lines(),
    ]
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
