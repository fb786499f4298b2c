"""HTML of the dashboard. Every value is escaped; no script, no third-party asset."""

from __future__ import annotations

import html
from typing import Any

from service.admin import charts
from service.admin.layout import Staff, alert, csrf_field, staff_page
from service.admin.tables import table
from service.core import paths
from service.core.clinic import Clinic

_CODE_FIELD = (
    "<input id=\"code\" name=\"code\" type=\"text\" inputmode=\"numeric\" "
    "autocomplete=\"one-time-code\" pattern=\"[0-9 ]*\" maxlength=\"8\""
)


def sign_in(clinic: Clinic, csrf: str, error: str | None = None) -> str:
    return staff_page(clinic, "Sign in", (
        "<div class=\"narrow\"><h1>Staff sign-in</h1>"
        "<p>Sign in with your admin or marketer API key and the code your authenticator app "
        "shows. These pages show aggregate figures only, never a patient.</p>"
        f"{alert(error)}<form method=\"post\" action=\"{paths.DASHBOARD_LOGIN}\">{csrf_field(csrf)}"
        "<label for=\"api_key\">API key</label>"
        "<input id=\"api_key\" name=\"api_key\" type=\"password\" autocomplete=\"off\" required>"
        "<label for=\"code\">Authenticator code</label>"
        f"{_CODE_FIELD} aria-describedby=\"code-help\">"
        "<p id=\"code-help\" class=\"muted\">Six digits. The first time, leave it empty: you "
        "will set up the authenticator app next.</p>"
        "<button type=\"submit\">Sign in</button></form></div>"
    ))


def enrol(clinic: Clinic, qr_svg: str, secret: str, csrf: str, error: str | None = None) -> str:
    # qr_svg is markup made by the service (admin/totp.py) from the set-up link, not input.
    return staff_page(clinic, "Set up your authenticator", (
        "<div class=\"narrow\"><h1>Set up your authenticator</h1>"
        "<p>This key needs a second factor before it opens the staff pages. Scan the code "
        "with an authenticator app (or type the key below into it), then enter the six digits "
        "it shows.</p>"
        f"{alert(error)}<figure class=\"qr\">{qr_svg}<figcaption>Set-up key: "
        f"<code>{html.escape(secret)}</code></figcaption></figure>"
        f"<form method=\"post\" action=\"{paths.DASHBOARD_ENROL}\">{csrf_field(csrf)}"
        "<label for=\"code\">Authenticator code</label>"
        f"{_CODE_FIELD} required>"
        "<button type=\"submit\">Confirm</button></form></div>"
    ))


def locked(clinic: Clinic, minutes: int) -> str:
    return staff_page(clinic, "Sign-in locked", (
        "<div class=\"narrow\"><h1>Sign-in is locked</h1>"
        "<p class=\"error\" role=\"alert\">Too many failed sign-in attempts. Sign-in for this "
        f"key or from this address is locked for {minutes} more minute"
        f"{'' if minutes == 1 else 's'}.</p>"
        f"<p><a href=\"{paths.DASHBOARD_LOGIN}\">Back to sign-in</a></p></div>"
    ))


def _cell(value: Any) -> str:
    return html.escape(str(value))


def _rate(rate: dict[str, Any]) -> str:
    return "withheld" if rate["rate"] is None else f"{rate['rate'] * 100:.1f}%"


def _rate_bar(name: str, rate: dict[str, Any]) -> charts.Bar:
    return charts.Bar(f"{name}: {_rate(rate)}", rate["rate"])


def _rates_figure(campaign: dict[str, Any], days: int) -> str:
    first = campaign["periods"][0]
    return _figure(campaign["name"], charts.bars(
        f"{campaign['name']}: unique open and click rates of people, first {days} days",
        [_rate_bar("Open rate", first["opens"]["unique_rate"]),
         _rate_bar("Click rate", first["clicks"]["unique_rate"])],
    ))


def _opens_figure(campaign: dict[str, Any], days: int) -> str:
    periods = campaign["periods"]
    counts = [p["opens"]["unique"] for p in periods]
    top = max((c for c in counts if isinstance(c, int)), default=0) or 1
    return _figure(campaign["name"], charts.bars(
        f"{campaign['name']}: unique opens by people per {days}-day period",
        [charts.Bar(f"{p['from']} to {p['to']}: {count}",
                    count / top if isinstance(count, int) else None)
         for p, count in zip(periods, counts, strict=True)],
    ))


def _figure(caption: str, chart: str) -> str:
    return f"<figure><figcaption>{_cell(caption)}</figcaption>{chart}</figure>"


def _period_row(name: str, p: dict[str, Any]) -> list[str]:
    return [_cell(name), f"{_cell(p['from'])} to {_cell(p['to'])}",
            _cell(p["opens"]["unique"]), _cell(p["opens"]["total"]),
            _rate(p["opens"]["unique_rate"]), _cell(p["machine_opens"]["unique"]),
            _cell(p["clicks"]["unique"]), _rate(p["clicks"]["unique_rate"]),
            _cell(p["machine_clicks"]["unique"])]


def dashboard(clinic: Clinic, staff: Staff, overview: dict[str, Any]) -> str:
    campaigns = overview["campaigns"]
    days = overview["period_days"]
    ended = [c for c in campaigns if c["periods"]]
    rates = "".join(_rates_figure(c, days) for c in ended) or "<p>No period has ended yet.</p>"
    opens = "".join(_opens_figure(c, days) for c in ended) or "<p>No period has ended yet.</p>"
    engagement = table(
        ["Campaign", "Days", "Unique opens", "Total opens", "Open rate", "Machine opens",
         "Unique clicks", "Click rate", "Machine clicks"],
        [_period_row(c["name"], p) for c in campaigns for p in c["periods"]],
        "No period has ended yet.")
    delivery = table(
        ["Campaign", "Delivered", "Bounced", "Bounce rate", "Complaints", "Complaint rate"],
        [[_cell(c["name"]), _cell(c["delivered"]), _cell(c["bounced"]), _rate(c["bounce_rate"]),
          _cell(c["complained"]), _rate(c["complaint_rate"])] for c in campaigns],
        "No campaign started in this period.")
    k = overview["min_cell"]
    return staff_page(clinic, "Engagement", (
        "<h1>Engagement</h1>"
        f"<form class=\"period\" method=\"get\" action=\"{paths.DASHBOARD}\">"
        f"<label>From <input type=\"date\" name=\"from\" value=\"{overview['from']}\"></label>"
        f"<label>To <input type=\"date\" name=\"to\" value=\"{overview['to']}\"></label>"
        "<button type=\"submit\">Show</button></form>"
        f"<p class=\"muted\">Aggregates only, for the campaigns started in these dates. Opens and "
        f"clicks are counted in fixed {days}-day periods from each campaign's first day and shown "
        f"once a period has ended, a day later; machine opens and clicks (mail privacy proxies, "
        f"link scanners) are counted apart. Counts from 1 to {k - 1} are shown as &lt;{k}, "
        "other cells that would let one be worked out as withheld, and rates built on either "
        "are withheld. Rates are per delivered email.</p>"
        f"<section><h2>Rates per campaign, first {days} days</h2>{rates}</section>"
        f"<section><h2>Unique opens by people, per period</h2>{opens}</section>"
        f"<section><h2>Engagement by period</h2>{engagement}</section>"
        f"<section><h2>Delivery</h2>{delivery}</section>"
    ), staff, paths.DASHBOARD)
