"""Engagement set-up shared by the engagement and dashboard tests."""

from __future__ import annotations

import uuid
from dataclasses import replace

from starlette.applications import Starlette


async def settle(app: Starlette, campaign: str, days: int = 9) -> None:
    """Moves a campaign's start and its counted days ``days`` back, as if that many days had
    passed: figures are shown per period once it has ended (``small_cells``)."""
    db = app.state.resources.db
    await db.execute("UPDATE campaigns SET started_at = started_at - make_interval(days => $2)"
                     " WHERE id = $1", uuid.UUID(campaign), days)
    await db.execute("UPDATE engagement SET day = day - $2::int WHERE campaign_id = $1",
                     uuid.UUID(campaign), days)


def read_at_once(app: Starlette) -> None:
    """Tests open their emails right after delivery, which a reader does not: the rule that
    counts such hits as machines' is turned off for this app."""
    resources = app.state.resources
    app.state.resources = replace(
        resources, settings=replace(resources.settings, tracking_machine_seconds=0))
