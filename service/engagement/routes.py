"""``GET /v1/campaigns/{id}/metrics`` and ``GET /v1/metrics``: aggregates only, small cells
suppressed. A marketer sees their own campaigns, an admin all of them."""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.access import require
from service.campaigns import own_campaign
from service.db.resources import Resources
from service.engagement import report
from service.engagement.overview import overview, window


async def campaign_metrics(request: Request) -> Response:
    res, _, campaign = await own_campaign(request, "marketer", "admin")
    numbers = await report.campaign_numbers(res.db, campaign, dt.datetime.now(dt.UTC).date())
    k = res.settings.metrics_min_cell
    return JSONResponse({**report.header(k), **report.shown_campaign(numbers, k)})


async def all_metrics(request: Request) -> Response:
    res: Resources = request.app.state.resources
    key = await require(request, "marketer", "admin")
    start, end = window(request)
    return JSONResponse(await overview(res, key, start, end))
