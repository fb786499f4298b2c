"""The campaigns started in a window of days, as the API and the dashboard show them. The
window only chooses campaigns; each is shown whole (see ``small_cells``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request

from service.access import ApiKey
from service.core.fields import query_date
from service.core.problems import invalid
from service.db.queries import QUERIES
from service.db.resources import Resources
from service.engagement import report

DEFAULT_DAYS = 30
MAX_DAYS = 366


def window(request: Request) -> tuple[dt.date, dt.date]:
    """The inclusive ``from`` .. ``to`` dates asked for, as a half-open range."""
    today = dt.datetime.now(dt.UTC).date()
    last = query_date(request, "to", today)
    first = query_date(request, "from", last - dt.timedelta(DEFAULT_DAYS - 1))
    if first > last:
        raise invalid("`from` must not be after `to`", fields=["from", "to"])
    if (last - first).days >= MAX_DAYS:
        raise invalid(f"at most {MAX_DAYS} days at a time", fields=["from", "to"])
    return first, last + dt.timedelta(1)


async def overview(res: Resources, key: ApiKey, start: dt.date, end: dt.date) -> dict[str, Any]:
    k = res.settings.metrics_min_cell
    today = dt.datetime.now(dt.UTC).date()
    campaigns = await res.db.fetch(
        QUERIES.campaigns_in_window, None if key.role == "admin" else key.id,
        dt.datetime.combine(start, dt.time(), dt.UTC), dt.datetime.combine(end, dt.time(), dt.UTC),
        key.organization_id,
    )
    return {
        **report.header(k),
        "from": start.isoformat(),
        "to": (end - dt.timedelta(1)).isoformat(),
        "campaigns": [report.shown_campaign(await report.campaign_numbers(res.db, row, today), k)
                      for row in campaigns],
    }
