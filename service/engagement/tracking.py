"""``/t/o/{token}`` open pixel and ``/t/c/{token}`` click redirect: aggregate counters only.

Nothing about the request is kept: no address, user agent or time finer than a day, and the
access log shows ``/t/<redacted>``. The request is looked at once, to tell a machine's hit from a
person's (``machines``), and only that answer is counted. A click goes only to the link
registered with the campaign at the index the authenticated token names; the token never carries
a URL, so there is no open redirect. Counting is best effort: if Redis is down the patient still
gets the pixel or the link.
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
from service.engagement import counters, machines, tokens
from service.engagement.tokens import Hit
from service.portal import link_unavailable

log = logging.getLogger(__name__)

# A transparent 1x1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


async def _count(request: Request, res: Resources, hit: Hit) -> None:
    now = dt.datetime.now(dt.UTC)
    machine = machines.is_machine(
        request.method, request.headers.get("user-agent"),
        None if hit.composed_at is None else now.timestamp() - hit.composed_at,
        res.settings.tracking_machine_seconds,
    )
    try:
        await counters.record(res.redis, hit, now.date(), machine)
    except RedisError:
        log.warning("engagement counter unavailable; a hit went uncounted")


async def open_pixel(request: Request) -> Response:
    res: Resources = request.app.state.resources
    hit = tokens.read(res.settings.keyring, request.path_params["token"])
    if hit is not None and hit.link is None:
        await _count(request, res, hit)
    # Answered the same either way: a mail client has no use for an error.
    return Response(PIXEL, media_type="image/gif")


async def click(request: Request) -> Response:
    res: Resources = request.app.state.resources
    hit = tokens.read(res.settings.keyring, request.path_params["token"])
    links = await res.db.fetchval(QUERIES.campaign_links, hit.campaign_id) if hit else None
    if hit is None or hit.link is None or links is None or hit.link >= len(links):
        return HTMLResponse(link_unavailable(res.settings.clinic), status_code=404)
    await _count(request, res, hit)
    return RedirectResponse(links[hit.link], status_code=302)
