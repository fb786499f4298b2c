"""HTML of the dashboard. Every value is escaped; no script, no third-party asset."""

from __future__ import annotations

import html
from typing import Any

from service.admin import charts
from service.core import paths


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<meta name=\"robots\" content=\"noindex, nofollow\">"
        f"<title>{html.escape(title)}</title>"
        f"<link rel=\"stylesheet\" href=\"{paths.STATIC}/admin.css\"></head>"
        f"<body>{body}</body></html>"
    )


def sign_in(error: str | None = None) -> str:
    alert = f"<p class=\"error\" role=\"alert\">{html.escape(error)}</p>" if error else ""
    return _page("Sign in: engagement dashboard", (
        "<main class=\"narrow\"><h1>Engagement dashboard</h1>"
        "<p>Sign in with an admin API key. The dashboard shows aggregate figures only.</p>"
        f"{alert}<form method=\"post\" action=\"{paths.DASHBOARD_LOGIN}\">"
        "<label for=\"api_key\">Admin API key</label>"
        "<input id=\"api_key\" name=\"api_key\" type=\"password\" autocomplete=\"off\" required>"
        "<button type=\"submit\">Sign in</button></form></main>"
    ))


def _cell(value: Any) -> str:
    return html.escape(str(value))


def _rate(rate: dict[str, Any]) -> str:
    return "withheld" if rate["rate"] is None else f"{rate['rate'] * 100:.1f}%"


def dashboard(who: str, csrf: str, overview: dict[str, Any]) -> str:
    campaigns = overview["campaigns"]
    bars = charts.rate_bars(
        "Unique open and click rates per campaign",
        [(c["name"], [("Open rate", c["opens"]["unique_rate"]["rate"]),
                      ("Click rate", c["clicks"]["unique_rate"]["rate"])]) for c in campaigns],
    )
    days = overview["days"]
    opens_chart = charts.day_columns(
        "Unique opens per day", [(d["day"], d["opens_unique"]) for d in days], "unique opens"
    )
    rows = "".join(
        "<tr>"
        f"<th scope=\"row\">{_cell(c['name'])}</th><td>{_cell(c['delivered'])}</td>"
        f"<td>{_cell(c['bounced'])}</td><td>{_rate(c['bounce_rate'])}</td>"
        f"<td>{_cell(c['complained'])}</td><td>{_rate(c['complaint_rate'])}</td>"
        f"<td>{_cell(c['opens']['unique'])}</td>"
        f"<td>{_cell(c['opens']['total'])}</td><td>{_rate(c['opens']['unique_rate'])}</td>"
        f"<td>{_cell(c['clicks']['unique'])}</td><td>{_rate(c['clicks']['unique_rate'])}</td>"
        "</tr>"
        for c in campaigns
    ) or "<tr><td colspan=\"12\">No campaign started in this period.</td></tr>"
    return _page("Engagement dashboard", (
        "<header><h1>Engagement dashboard</h1>"
        f"<form method=\"post\" action=\"{paths.DASHBOARD_LOGOUT}\"><span>{html.escape(who)}</span>"
        f"<input type=\"hidden\" name=\"csrf\" value=\"{html.escape(csrf, quote=True)}\">"
        "<button type=\"submit\">Sign out</button></form></header><main>"
        f"<form class=\"period\" method=\"get\" action=\"{paths.DASHBOARD}\">"
        f"<label>From <input type=\"date\" name=\"from\" value=\"{overview['from']}\"></label>"
        f"<label>To <input type=\"date\" name=\"to\" value=\"{overview['to']}\"></label>"
        "<button type=\"submit\">Show</button></form>"
        f"<p class=\"muted\">Aggregates only. Counts from 1 to {overview['min_cell'] - 1} are "
        f"shown as &lt;{overview['min_cell']} and rates built on them are withheld. Rates are "
        "per delivered email.</p>"
        f"<section><h2>Rates per campaign</h2><div class=\"scroll\">{bars}</div></section>"
        f"<section><h2>Unique opens per day</h2><div class=\"scroll\">{opens_chart}</div>"
        "</section>"
        "<section><h2>Table</h2><div class=\"scroll\"><table><thead><tr>"
        "<th scope=\"col\">Campaign</th><th scope=\"col\">Delivered</th>"
        "<th scope=\"col\">Bounced</th><th scope=\"col\">Bounce rate</th>"
        "<th scope=\"col\">Complaints</th><th scope=\"col\">Complaint rate</th>"
        "<th scope=\"col\">Unique opens</th>"
        "<th scope=\"col\">Total opens</th><th scope=\"col\">Open rate</th>"
        "<th scope=\"col\">Unique clicks</th><th scope=\"col\">Click rate</th>"
        f"</tr></thead><tbody>{rows}</tbody></table></div></section></main>"
    ))
