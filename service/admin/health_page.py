"""``/admin/health``: how delivery is going, for admins: the queue, what waits to be retried and
why, TLS failures, bounce and complaint rates, and the last 24 hours hour by hour. The figures
are the ones ``/metrics`` exposes (its queries), for the whole service, and aggregates only: no
address, subject or token is read."""

from __future__ import annotations

from collections import Counter

from starlette.requests import Request
from starlette.responses import Response

from service.admin import health_views
from service.admin.guard import signed_in, to_sign_in
from service.admin.layout import respond
from service.db.queries import QUERIES
from service.db.queue import REDIS_UNREACHABLE


async def show(request: Request) -> Response:
    who = await signed_in(request, "admin")
    if who is None:
        return to_sign_in()
    db = who.res.db
    by_status = {row["status"]: row["n"] for row in await db.fetch(QUERIES.messages_by_status)}
    try:
        jobs: int | None = await who.res.redis.zcard(who.res.settings.queue_name)
    except REDIS_UNREACHABLE:
        jobs = None  # Redis is down: the page says so rather than show a wrong figure
    reports: Counter[str] = Counter()
    for row in await db.fetch(QUERIES.inbound_report_counts):
        reports[row["outcome"]] += row["n"]
    figures = health_views.Figures(
        by_status=by_status, due=await db.fetchval(QUERIES.messages_due_now), jobs=jobs,
        complaints=reports["complaint"],
        retrying={row["error_class"]: row["n"] for row in await db.fetch(
            QUERIES.retrying_by_class)},
        failures={row["error_class"]: row["n"] for row in await db.fetch(
            QUERIES.failures_by_class_24h)},
        hours=[dict(row) for row in await db.fetch(QUERIES.delivery_hours)],
    )
    return respond(health_views.health(who.res.settings.clinic, who.staff, figures))
