"""HTML of the dashboard. Every value is escaped; no script, no third-party asset."""

from __future__ import annotations

import html
from typing import Any

from service.admin import charts
from service.admin.layout import Staff, alert, csrf_field, staff_page
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


def _first_period(campaign: dict[str, Any]) -> dict[str, Any] | None:
    periods: list[dict[str, Any]] = campaign["periods"]
    return periods[0] if periods else None


def _period_row(name: str, p: dict[str, Any]) -> str:
    return (
        f"<tr><th scope=\"row\">{_cell(name)}</th><td>{_cell(p['from'])} to {_cell(p['to'])}</td>"
        f"<td>{_cell(p['opens']['unique'])}</td><td>{_cell(p['opens']['total'])}</td>"
        f"<td>{_rate(p['opens']['unique_rate'])}</td>"
        f"<td>{_cell(p['machine_opens']['unique'])}</td>"
        f"<td>{_cell(p['clicks']['unique'])}</td><td>{_rate(p['clicks']['unique_rate'])}</td>"
        f"<td>{_cell(p['machine_clicks']['unique'])}</td></tr>"
    )


def dashboard(clinic: Clinic, staff: Staff, overview: dict[str, Any]) -> str:
    campaigns = overview["campaigns"]
    days = overview["period_days"]
    firsts = [(c["name"], p) for c in campaigns if (p := _first_period(c)) is not None]
    bars = charts.rate_bars(
        f"People's unique open and click rates, first {days} days of each campaign",
        [(name, [("Open rate", p["opens"]["unique_rate"]["rate"]),
                 ("Click rate", p["clicks"]["unique_rate"]["rate"])]) for name, p in firsts],
    )
    columns = "".join(
        f"<h3>{_cell(c['name'])}</h3>" + charts.count_columns(
            f"{c['name']}: unique opens by people per {days}-day period",
            [(f"{p['from']} to {p['to']}", p["opens"]["unique"]) for p in c["periods"]],
            "unique opens by people",
        )
        for c in campaigns if c["periods"]
    ) or "<p>No period has ended yet.</p>"
    delivery = "".join(
        "<tr>"
        f"<th scope=\"row\">{_cell(c['name'])}</th><td>{_cell(c['delivered'])}</td>"
        f"<td>{_cell(c['bounced'])}</td><td>{_rate(c['bounce_rate'])}</td>"
        f"<td>{_cell(c['complained'])}</td><td>{_rate(c['complaint_rate'])}</td>"
        "</tr>"
        for c in campaigns
    ) or "<tr><td colspan=\"6\">No campaign started in this period.</td></tr>"
    engagement = "".join(
        _period_row(c["name"], p) for c in campaigns for p in c["periods"]
    ) or "<tr><td colspan=\"9\">No period has ended yet.</td></tr>"
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
        f"<section><h2>Rates per campaign</h2><div class=\"scroll\">{bars}</div></section>"
        f"<section><h2>Unique opens by people, per period</h2><div class=\"scroll\">{columns}"
        "</div></section>"
        "<section><h2>Engagement by period</h2><div class=\"scroll\"><table><thead><tr>"
        "<th scope=\"col\">Campaign</th><th scope=\"col\">Days</th>"
        "<th scope=\"col\">Unique opens</th><th scope=\"col\">Total opens</th>"
        "<th scope=\"col\">Open rate</th><th scope=\"col\">Machine opens</th>"
        "<th scope=\"col\">Unique clicks</th><th scope=\"col\">Click rate</th>"
        "<th scope=\"col\">Machine clicks</th>"
        f"</tr></thead><tbody>{engagement}</tbody></table></div></section>"
        "<section><h2>Delivery</h2><div class=\"scroll\"><table><thead><tr>"
        "<th scope=\"col\">Campaign</th><th scope=\"col\">Delivered</th>"
        "<th scope=\"col\">Bounced</th><th scope=\"col\">Bounce rate</th>"
        "<th scope=\"col\">Complaints</th><th scope=\"col\">Complaint rate</th>"
        f"</tr></thead><tbody>{delivery}</tbody></table></div></section>"
    ), staff, paths.DASHBOARD)
