"""Campaign metrics as they may be shown: read the aggregates of the periods that may be
published, then apply ``small_cells``.

``CampaignNumbers`` and ``PeriodNumbers`` hold raw figures and never leave the process;
``shown_campaign`` turns them into what the API and the dashboard display.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import asyncpg

from service.db.queries import QUERIES
from service.engagement import hyperloglog
from service.engagement.small_cells import (
    PERIOD_DAYS,
    Shown,
    period_days,
    protect_union,
    published_periods,
    show_count,
    show_rate,
)


@dataclass(frozen=True, slots=True)
class Measure:
    unique: int
    total: int


@dataclass(frozen=True, slots=True)
class PeriodNumbers:
    period: int  # 0 is the campaign's first
    first_day: dt.date
    last_day: dt.date
    opens: Measure
    machine_opens: Measure
    clicks_unique: int  # people who clicked any link
    links_unique: tuple[int, ...]
    machine_clicks: Measure


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
    links: tuple[str, ...]
    periods: tuple[PeriodNumbers, ...]


def _period(
    first_day: dt.date, period: int, links: int, rows: dict[tuple[int, bool], asyncpg.Record]
) -> PeriodNumbers:
    def sketch(*targets: int, machine: bool) -> bytes:
        return hyperloglog.merge(*(rows[t, machine]["registers"] for t in targets
                                   if (t, machine) in rows))

    def total(*targets: int, machine: bool) -> int:
        return sum(int(rows[t, machine]["total"]) for t in targets if (t, machine) in rows)

    def measure(*targets: int, machine: bool) -> Measure:
        return Measure(hyperloglog.estimate(sketch(*targets, machine=machine)),
                       total(*targets, machine=machine))

    clicks = range(1, links + 1)
    first, last = period_days(first_day, period)
    return PeriodNumbers(
        period=period, first_day=first, last_day=last,
        opens=measure(0, machine=False), machine_opens=measure(0, machine=True),
        clicks_unique=hyperloglog.estimate(sketch(*clicks, machine=False)),
        links_unique=tuple(hyperloglog.estimate(sketch(t, machine=False)) for t in clicks),
        machine_clicks=measure(*clicks, machine=True),
    )


async def campaign_numbers(
    db: asyncpg.Pool, campaign: asyncpg.Record, today: dt.date
) -> CampaignNumbers:
    cid = campaign["id"]
    delivery = await db.fetchrow(QUERIES.campaign_delivery_counts, cid)
    links = tuple(await db.fetchval(QUERIES.campaign_links, cid) or ())
    periods: list[PeriodNumbers] = []
    if campaign["started_at"] is not None:
        first_day = campaign["started_at"].astimezone(dt.UTC).date()
        count = published_periods(first_day, today)
        by_period: dict[int, dict[tuple[int, bool], asyncpg.Record]] = defaultdict(dict)
        for row in await db.fetch(QUERIES.campaign_periods, cid, first_day, PERIOD_DAYS,
                                  period_days(first_day, count)[0]):
            by_period[row["period"]][row["target"], row["machine"]] = row
        # The first period is listed even without a hit; a later one only with some.
        shown = sorted(set(by_period) | ({0} if count else set()))
        periods = [_period(first_day, n, len(links), by_period[n]) for n in shown]
    return CampaignNumbers(
        campaign_id=cid, name=campaign["name"], tracking=campaign["tracking"],
        started_at=campaign["started_at"], delivered=delivery["delivered"],
        bounced=delivery["bounced"], failed=delivery["failed"],
        complained=delivery["complained"], links=links, periods=tuple(periods),
    )


def header(k: int) -> dict[str, Any]:
    return {"min_cell": k, "period_days": PERIOD_DAYS}


def _rate(numerator: Shown, denominator: int) -> dict[str, Any]:
    return {"rate": show_rate(numerator, denominator), "of": denominator}


def _measure(m: Measure, k: int) -> dict[str, Any]:
    return {"unique": show_count(m.unique, k).value, "total": show_count(m.total, k).value}


def shown_period(p: PeriodNumbers, links: tuple[str, ...], delivered: int,
                 k: int) -> dict[str, Any]:
    clickers, per_link = protect_union(p.clicks_unique, p.links_unique, k)
    opens = show_count(p.opens.unique, k)
    return {
        "period": p.period + 1,
        "from": p.first_day.isoformat(),
        "to": p.last_day.isoformat(),
        "opens": {**_measure(p.opens, k), "unique_rate": _rate(opens, delivered)},
        "machine_opens": _measure(p.machine_opens, k),
        "clicks": {
            "unique": clickers.value, "unique_rate": _rate(clickers, delivered),
            "links": [{"url": url, "unique": shown.value, "unique_rate": _rate(shown, delivered)}
                      for url, shown in zip(links, per_link, strict=True)],
        },
        "machine_clicks": _measure(p.machine_clicks, k),
    }


def shown_campaign(n: CampaignNumbers, k: int) -> dict[str, Any]:
    complained = show_count(n.complained, k)
    sent = n.delivered + n.bounced
    return {
        "campaign_id": str(n.campaign_id),
        "name": n.name,
        "tracking": n.tracking,
        "started_at": n.started_at.isoformat() if n.started_at else None,
        "delivered": n.delivered,
        "bounced": n.bounced,
        "failed": n.failed,
        "complained": complained.value,
        # Mailbox providers judge a sender by these two (Gmail and Yahoo: complaints < 0.3%).
        "bounce_rate": _rate(Shown(n.bounced, False), sent),
        "complaint_rate": _rate(complained, n.delivered),
        "periods": [shown_period(p, n.links, n.delivered, k) for p in n.periods],
    }
