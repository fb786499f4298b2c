"""An attacker with every figure the metrics API and the dashboard show, over many date ranges
and both roles, tries every subtraction and recovers no suppressed count.

Seeded: three campaigns (one with two links), five weeks of daily opens and clicks, people's and
machines', mostly small. The attacker's model is conservative: every figure is taken as the sum
of the daily counts it covers, unique counts included (unique clickers as the sum of each link's,
which overstates what the attacker knows), and a suppressed count is recovered if any +/-
combination of shown figures (a total less its shown parts, one range less another, rate x
denominator) equals it; that is, if its row lies in the span of the shown rows.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import uuid
from collections import defaultdict
from dataclasses import replace
from fractions import Fraction
from html import unescape
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from service.core.config import Settings
from service.devtools.relay import Mailbox
from service.engagement import hyperloglog
from service.engagement.small_cells import PERIOD_DAYS, WITHHELD
from tests.admin_session import signed_in
from tests.campaign_setup import LINK, sent_campaign
from tests.helpers import auth

K = 11
SMALL = f"<{K}"
TODAY = dt.datetime.now(dt.UTC).date()
START = TODAY - dt.timedelta(38)
Atom = tuple[Any, ...]
Row = dict[Atom, Fraction]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The attack asks for every figure over hundreds of ranges at once, faster than the per-key
    # limits allow; an attacker would just ask more slowly, so the limits are off here.
    return replace(settings, rate_limit_marketer=None, rate_limit_admin=None)


async def seed(app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
               settings: Settings, mailbox: Mailbox) -> dict[str, int]:
    """Campaign id -> number of links."""
    db = app.state.resources.db
    rng = random.Random(16)
    campaigns: dict[str, int] = {}
    for n, (size, links) in enumerate([(30, [LINK, LINK + "?b"]), (14, [LINK]), (25, [LINK])]):
        mailbox.messages.clear()
        campaign, _ = await sent_campaign(app, client, keys, settings, mailbox, size,
                                          name=f"Seeded {n}", links=links)
        campaigns[campaign] = len(links)
        cid = uuid.UUID(campaign)
        await db.execute("UPDATE campaigns SET started_at = $2 WHERE id = $1", cid,
                         dt.datetime.combine(START, dt.time(9 + n), dt.UTC))
        emails = [rng.randbytes(16) for _ in range(80)]
        hits: dict[tuple[int, int, bool], list[bytes]] = defaultdict(list)
        for day in range(37):
            for target in range(len(links) + 1):
                for machine in (False, True):
                    if rng.random() < 0.35:
                        size_now = rng.choice([1, 2, 3, 5, 8, 10, rng.randint(11, 30)])
                        readers = rng.sample(emails, size_now)
                        hits[day, target, machine] += readers + readers[: rng.randint(0, 3)]
        if n == 0:  # one small link beside a big one, in the first week
            hits[1, 1, False] += emails[:3]
            hits[1, 2, False] += emails[3:43]
        for (day, target, machine), nonces in hits.items():
            registers = hyperloglog.empty()
            for nonce in nonces:
                hyperloglog.add(registers, nonce)
            await db.execute(
                "INSERT INTO engagement (campaign_id, target, machine, day, total, registers)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (campaign_id, target, day, machine)"
                " DO UPDATE SET total = engagement.total + EXCLUDED.total,"
                " registers = hll_union(engagement.registers, EXCLUDED.registers)",
                cid, target, machine, START + dt.timedelta(day), len(nonces), bytes(registers))
    return campaigns


def period_row(campaign: str, period: int, targets: range, machine: bool, kind: str) -> Row:
    first = (period - 1) * PERIOD_DAYS
    return {(campaign, first + day, target, machine, kind): Fraction(1)
            for day in range(PERIOD_DAYS) for target in targets}


def figures(campaign: dict[str, Any], links: int) -> list[tuple[Atom, Any, Row]]:
    """(path, shown value, the attacker's row) for every count a campaign's entry shows."""
    cid = campaign["campaign_id"]
    out: list[tuple[Atom, Any, Row]] = [
        ((cid, name), campaign[name], {(cid, name): Fraction(1)})
        for name in ("delivered", "bounced", "failed", "complained")
    ]
    for p in campaign["periods"]:
        n = p["period"]

        def add(path: Atom, value: Any, targets: range, machine: bool, kind: str,
                n: int = n) -> None:
            out.append(((cid, n, *path), value, period_row(cid, n, targets, machine, kind)))

        for machine, name in ((False, "opens"), (True, "machine_opens")):
            for kind in ("unique", "total"):
                add((name, kind), p[name][kind], range(1), machine, kind)
        clicks = range(1, links + 1)
        add(("clicks", "unique"), p["clicks"]["unique"], clicks, False, "unique")
        for kind in ("unique", "total"):
            add(("machine_clicks", kind), p["machine_clicks"][kind], clicks, True, kind)
        for i, link in enumerate(p["clicks"]["links"]):
            add(("link", i, "unique"), link["unique"], range(i + 1, i + 2), False, "unique")
    return out


def rates(campaign: dict[str, Any]) -> list[tuple[dict[str, Any], Any]]:
    """Every rate shown, with the count it is the rate of."""
    out = [(campaign["bounce_rate"], campaign["bounced"]),
           (campaign["complaint_rate"], campaign["complained"])]
    for p in campaign["periods"]:
        out.append((p["opens"]["unique_rate"], p["opens"]["unique"]))
        out.append((p["clicks"]["unique_rate"], p["clicks"]["unique"]))
        out += [(link["unique_rate"], link["unique"]) for link in p["clicks"]["links"]]
    return out


class Span:
    """Rows in echelon form over the rationals: what any +/- combination of them can give."""

    def __init__(self) -> None:
        self.pivots: dict[Atom, Row] = {}

    def reduce(self, row: Row) -> Row:
        row = dict(row)
        for atom, pivot in self.pivots.items():
            factor = row.get(atom)
            if factor:
                for a, v in pivot.items():
                    row[a] = row.get(a, Fraction(0)) - factor * v
                    if not row[a]:
                        del row[a]
        return row

    def add(self, row: Row) -> None:
        row = self.reduce(row)
        if row:
            atom = min(row)
            scale = row[atom]
            pivot = {a: v / scale for a, v in row.items()}
            for other in self.pivots.values():
                factor = other.get(atom)
                if factor:
                    for a, v in pivot.items():
                        other[a] = other.get(a, Fraction(0)) - factor * v
                        if not other[a]:
                            del other[a]
            self.pivots[atom] = pivot

    def holds(self, row: Row) -> bool:
        return not self.reduce(row)


def dashboard_cells(page: str) -> list[list[str]]:
    return [[unescape(re.sub(r"<[^>]+>", "", cell)).strip()
             for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", page.split("<tbody>", 1)[1])]


def percent(rate: dict[str, Any]) -> str:
    return "withheld" if rate["rate"] is None else f"{rate['rate'] * 100:.1f}%"


async def test_no_suppressed_count_can_be_worked_out_from_everything_shown(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    links = await seed(app, client, keys, settings, mailbox)
    answers: list[dict[str, Any]] = []
    windows = [(START + dt.timedelta(a), START + dt.timedelta(a + length))
               for a in range(-3, 41) for length in (0, 1, 6, 7, 30)]
    for role in ("admin", "marketer"):
        for first, last in windows:
            response = await client.get(f"/v1/metrics?from={first}&to={last}",
                                        headers=auth(keys[role]))
            assert response.status_code == 200, response.text
            answers += response.json()["campaigns"]
        for campaign in links:
            answers.append((await client.get(f"/v1/campaigns/{campaign}/metrics",
                                             headers=auth(keys[role]))).json())
    progress = {c: (await client.get(f"/v1/campaigns/{c}", headers=auth(keys["admin"]))).json()
                for c in links}

    # One value a figure, whatever the range or the role: one range less another gives 0.
    seen: dict[Atom, set[str]] = defaultdict(set)
    rows: dict[Atom, tuple[Any, Row]] = {}
    for campaign in answers:
        for path, value, row in figures(campaign, links[campaign["campaign_id"]]):
            seen[path].add(repr(value))
            rows[path] = (value, row)
    assert all(len(values) == 1 for values in seen.values()), \
        [p for p, v in seen.items() if len(v) > 1]
    assert {path[0] for path in rows} == set(links)

    # Everything shown, and every rate x denominator, goes into the attacker's span.
    span = Span()
    for value, row in rows.values():
        if isinstance(value, int):
            span.add(row)
    for campaign in answers:
        for rate, count in rates(campaign):
            if rate["rate"] is not None:
                assert isinstance(count, int)  # a rate is never shown over a hidden count
                assert round(rate["rate"] * rate["of"]) == min(count, rate["of"])
    for campaign, shown in progress.items():  # exact delivery counts are public margins
        assert rows[campaign, "delivered"][0] == shown["progress"]["sent"] > 0

    suppressed = {path: value for path, (value, _) in rows.items() if isinstance(value, str)}
    recovered = [path for path in suppressed if span.holds(rows[path][1])]
    assert recovered == []
    assert SMALL in suppressed.values() and WITHHELD in suppressed.values()  # not vacuous

    # Unique clickers are a union, not a sum: with the union shown, no small link is bounded
    # above 1 by "union - the most the other links hold".
    for campaign in answers:
        for p in campaign["periods"]:
            union, each = p["clicks"]["unique"], [x["unique"] for x in p["clicks"]["links"]]
            if not isinstance(union, int):
                continue
            for j, value in enumerate(each):
                if value == SMALL:
                    most = [v if isinstance(v, int) else K - 1 if v == SMALL else union
                            for i, v in enumerate(each) if i != j]
                    assert union - sum(most) <= 1, (campaign["name"], p)

    # The dashboard shows the same figures and no others.
    await signed_in(app, client, keys["admin"])
    by_name = {c["name"]: c for c in answers}
    for first, last in windows[::9]:
        page = (await client.get(f"/admin?from={first}&to={last}")).text
        engagement, delivery = page.split("<h2>Delivery</h2>")
        for cells in dashboard_cells(engagement):
            if len(cells) == 1:
                continue  # "No period has ended yet."
            name, days, *shown = cells
            [p] = [p for p in by_name[name]["periods"] if f"{p['from']} to {p['to']}" == days]
            assert shown == [str(p["opens"]["unique"]), str(p["opens"]["total"]),
                             percent(p["opens"]["unique_rate"]), str(p["machine_opens"]["unique"]),
                             str(p["clicks"]["unique"]), percent(p["clicks"]["unique_rate"]),
                             str(p["machine_clicks"]["unique"])]
        for cells in dashboard_cells(delivery):
            if len(cells) == 1:
                continue
            c = by_name[cells[0]]
            assert cells[1:] == [str(c["delivered"]), str(c["bounced"]),
                                 percent(c["bounce_rate"]), str(c["complained"]),
                                 percent(c["complaint_rate"])]
