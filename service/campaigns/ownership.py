"""Which campaign a request names, and whether its key may see it: a marketer their own, an admin
any of the organization's. Anything else is a 404, so a campaign id tells a stranger nothing."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from starlette.requests import Request

from service.access import ApiKey, Role, require
from service.core.fields import path_id
from service.core.problems import Problem
from service.db.queries import QUERIES
from service.db.resources import Resources


async def visible_campaign(db: asyncpg.Pool, key: ApiKey, campaign_id: uuid.UUID) -> Any:
    campaign: asyncpg.Record | None = await db.fetchrow(QUERIES.campaign, campaign_id)
    if (campaign is None or campaign["organization_id"] != key.organization_id
            or (key.role != "admin" and campaign["api_key_id"] != key.id)):
        raise Problem(404, "not-found", "Not found")
    return campaign


async def own_campaign(request: Request, *roles: Role) -> tuple[Resources, ApiKey, Any]:
    res: Resources = request.app.state.resources
    key = await require(request, *roles)
    campaign = await visible_campaign(res.db, key, path_id(request, "campaign_id"))
    return res, key, campaign
