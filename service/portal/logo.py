"""``/static/clinic-logo``: CLINIC_LOGO_FILE, checked and read at start (``core/clinic.py``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from service.db.resources import Resources


async def clinic_logo(request: Request) -> Response:
    res: Resources = request.app.state.resources
    logo = res.settings.clinic_logo
    if logo is None:
        return Response(status_code=404)
    # The one response a shared cache may keep: the same for everyone, and no secret.
    return Response(logo.data, media_type=logo.media_type,
                    headers={"Cache-Control": "public, max-age=3600"})
