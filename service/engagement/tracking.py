"""``/t/o/{token}`` open pixel and ``/t/c/{token}`` click redirect: aggregate counters only.

Nothing about the request is kept: no address, user agent or time finer than a day, and the
access log shows ``/t/<redacted>``. A click goes only to the link registered with the campaign
at the index the authenticated token names; the token never carries a URL, so there is no open
redirect. Counting is best effort: if Redis is down the patient still gets the pixel or the link.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from service.db.queries import QUERIES
from service.db.resources import Resources
from service.engagement import counters, tokens
from service.engagement.tokens import Hit
from service.portal import link_unavailable

log = logging.getLogger(__name__)

# A transparent 1x1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


async def _count(res: Resources, hit: Hit) -> None:
    try:
        await counters.record(res.redis, hit, dt.datetime.now(dt.UTC).date())
    except RedisError:
        log.warning("engagement counter unavailable; a hit went uncounted")


async def open_pixel(request: Request) -> Response:
    res: Resources = request.app.state.resources
    hit = tokens.read(res.settings.keyring, request.path_params["token"])
    if hit is not None and hit.link is None:
        await _count(res, hit)
    # Answered the same either way: a mail client has no use for an error.
    return Response(PIXEL, media_type="image/gif")


async def click(request: Request) -> Response:
    res: Resources = request.app.state.resources
    hit = tokens.read(res.settings.keyring, request.path_params["token"])
    links = await res.db.fetchval(QUERIES.campaign_links, hit.campaign_id) if hit else None
    if hit is None or hit.link is None or links is None or hit.link >= len(links):
        return HTMLResponse(link_unavailable(), status_code=404)
    await _count(res, hit)
    return RedirectResponse(links[hit.link], status_code=302)
