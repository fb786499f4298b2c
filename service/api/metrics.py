"""``GET /v1/campaigns/{id}/metrics`` and ``GET /v1/metrics``: aggregates only, small cells
suppressed. A marketer sees their own campaigns, an admin all of them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.api.campaigns import own_campaign
from service.auth import ApiKey, require
from service.engagement import report
from service.problems import invalid
from service.queries import QUERIES
from service.resources import Resources

DEFAULT_DAYS = 30
MAX_DAYS = 366


async def campaign_metrics(request: Request) -> Response:
    res, _, campaign = await own_campaign(request, "marketer", "admin")
    numbers = await report.campaign_numbers(res.db, campaign)
    k = res.settings.metrics_min_cell
    return JSONResponse({"min_cell": k, **report.shown_campaign(numbers, k)})


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


async def all_metrics(request: Request) -> Response:
    res: Resources = request.app.state.resources
    key = await require(request, "marketer", "admin")
    start, end = window(request)
    return JSONResponse(await overview(res, key, start, end))
