"""The engagement overview over a window of days, as the API and the dashboard show it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request

from service.access import ApiKey
from service.core.problems import invalid
from service.db.queries import QUERIES
from service.db.resources import Resources
from service.engagement import report

DEFAULT_DAYS = 30
MAX_DAYS = 366


def _date(request: Request, name: str, default: dt.date) -> dt.date:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise invalid(f"`{name}` must be a date, YYYY-MM-DD", fields=[name]) from None


def window(request: Request) -> tuple[dt.date, dt.date]:
    """The inclusive ``from`` .. ``to`` dates asked for, as a half-open range."""
    today = dt.datetime.now(dt.UTC).date()
    last = _date(request, "to", today)
    first = _date(request, "from", last - dt.timedelta(DEFAULT_DAYS - 1))
    if first > last:
        raise invalid("`from` must not be after `to`", fields=["from", "to"])
    if (last - first).days >= MAX_DAYS:
        raise invalid(f"at most {MAX_DAYS} days at a time", fields=["from", "to"])
    return first, last + dt.timedelta(1)


async def overview(res: Resources, key: ApiKey, start: dt.date, end: dt.date) -> dict[str, Any]:
    """Campaigns started in the window and the daily series, as the API and dashboard show
    them."""
    k = res.settings.metrics_min_cell
    campaigns = await res.db.fetch(
        QUERIES.campaigns_in_window, None if key.role == "admin" else key.id,
        dt.datetime.combine(start, dt.time(), dt.UTC), dt.datetime.combine(end, dt.time(), dt.UTC),
    )
    shown = [
        report.shown_campaign(await report.campaign_numbers(res.db, row), k) for row in campaigns
    ]
    days = await report.window_numbers(res.db, [row["id"] for row in campaigns], start, end)
    return {
        "min_cell": k,
        "from": start.isoformat(),
        "to": (end - dt.timedelta(1)).isoformat(),
        "campaigns": shown,
        "days": [report.shown_day(day, k) for day in days.days],
    }
