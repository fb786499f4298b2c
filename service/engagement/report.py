"""Campaign metrics as they may be shown: read the aggregates, then suppress small cells.

``CampaignNumbers`` and ``DayNumbers`` hold raw figures and never leave the process; ``shown``
turns them into what the API and the dashboard display, every count passed through the
small-cell rule and every rate given with its denominator or withheld.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from service.db.queries import QUERIES
from service.engagement import hyperloglog
from service.engagement.small_cells import show_count, show_rate


@dataclass(frozen=True, slots=True)
class LinkNumbers:
    url: str
    unique: int
    total: int


@dataclass(frozen=True, slots=True)
class CampaignNumbers:
    campaign_id: uuid.UUID
    name: str
    tracking: bool
    started_at: dt.datetime | None
    delivered: int
    bounced: int
    failed: int
    complained: int
    opens_unique: int
    opens_total: int
    clicks_unique: int
    links: tuple[LinkNumbers, ...]


@dataclass(slots=True)
class DayNumbers:
    day: dt.date
    delivered: int = 0
    opens_unique: int = 0
    opens_total: int = 0
    clicks_unique: int = 0
    clicks_total: int = 0


@dataclass(frozen=True, slots=True)
class Window:
    start: dt.date
    end: dt.date  # exclusive
    days: list[DayNumbers] = field(default_factory=list)


async def campaign_numbers(db: asyncpg.Pool, campaign: asyncpg.Record) -> CampaignNumbers:
    cid = campaign["id"]
    delivery = await db.fetchrow(QUERIES.campaign_delivery_counts, cid)
    links = await db.fetchval(QUERIES.campaign_links, cid)
    targets = {row["target"]: row for row in await db.fetch(QUERIES.campaign_engagement, cid)}
    clickers = await db.fetchval(QUERIES.campaign_clickers, cid)

    def unique(target: int) -> int:
        row = targets.get(target)
        return hyperloglog.estimate(row["registers"]) if row else 0

    def total(target: int) -> int:
        row = targets.get(target)
        return int(row["total"]) if row else 0

    return CampaignNumbers(
        campaign_id=cid, name=campaign["name"], tracking=campaign["tracking"],
        started_at=campaign["started_at"], delivered=delivery["delivered"],
        bounced=delivery["bounced"], failed=delivery["failed"],
        complained=delivery["complained"],
        opens_unique=unique(0), opens_total=total(0),
        clicks_unique=hyperloglog.estimate(clickers) if clickers else 0,
        links=tuple(
            LinkNumbers(url, unique(i + 1), total(i + 1)) for i, url in enumerate(links)
        ),
    )


async def window_numbers(
    db: asyncpg.Pool, campaign_ids: list[uuid.UUID], start: dt.date, end: dt.date
) -> Window:
    days = {start + dt.timedelta(n): DayNumbers(start + dt.timedelta(n))
            for n in range((end - start).days)}
    since = dt.datetime.combine(start, dt.time(), dt.UTC)
    until = dt.datetime.combine(end, dt.time(), dt.UTC)
    for row in await db.fetch(QUERIES.daily_deliveries, campaign_ids, since, until):
        days[row["day"]].delivered += row["delivered"]
    for row in await db.fetch(QUERIES.daily_engagement, campaign_ids, start, end):
        day = days[row["day"]]
        unique = hyperloglog.estimate(row["registers"])
        if row["is_open"]:
            day.opens_unique += unique
            day.opens_total += row["total"]
        else:
            day.clicks_unique += unique
            day.clicks_total += row["total"]
    return Window(start, end, list(days.values()))


def _rate(numerator: int, denominator: int, k: int) -> dict[str, Any]:
    return {"rate": show_rate(numerator, denominator, k), "of": show_count(denominator, k).value}


def shown_campaign(n: CampaignNumbers, k: int) -> dict[str, Any]:
    def count(value: int) -> int | str:
        return show_count(value, k).value

    return {
        "campaign_id": str(n.campaign_id),
        "name": n.name,
        "tracking": n.tracking,
        "started_at": n.started_at.isoformat() if n.started_at else None,
        "delivered": count(n.delivered),
        "bounced": count(n.bounced),
        "failed": count(n.failed),
        "complained": count(n.complained),
        # Mailbox providers judge a sender by these two (Gmail and Yahoo: complaints < 0.3%).
        "bounce_rate": _rate(n.bounced, n.delivered + n.bounced, k),
        "complaint_rate": _rate(n.complained, n.delivered, k),
        "opens": {
            "unique": count(n.opens_unique), "total": count(n.opens_total),
            "unique_rate": _rate(n.opens_unique, n.delivered, k),
        },
        "clicks": {
            "unique": count(n.clicks_unique),
            "unique_rate": _rate(n.clicks_unique, n.delivered, k),
            "links": [
                {"url": link.url, "unique": count(link.unique), "total": count(link.total),
                 "unique_rate": _rate(link.unique, n.delivered, k)}
                for link in n.links
            ],
        },
    }


def shown_day(d: DayNumbers, k: int) -> dict[str, Any]:
    return {
        "day": d.day.isoformat(),
        "delivered": show_count(d.delivered, k).value,
        "opens_unique": show_count(d.opens_unique, k).value,
        "opens_total": show_count(d.opens_total, k).value,
        "clicks_unique": show_count(d.clicks_unique, k).value,
        "clicks_total": show_count(d.clicks_total, k).value,
    }
