"""HTML of the campaign pages: the list with each campaign's progress, and one campaign with its
counts and its controls. Counts only: no recipient, address or subject line of anyone. Every
value is escaped."""

from __future__ import annotations

import html
from typing import Any

from service.admin.layout import Staff, alert, csrf_field, staff_page
from service.admin.tables import counts, number
from service.campaigns import Progress
from service.core import paths
from service.core.clinic import Clinic

# The campaign statuses in words (migration 0004's vocabulary).
STATUS_WORDS = {"draft": "Draft", "staging": "Preparing to send", "sending": "Sending",
                "paused": "Paused", "cancelled": "Cancelled", "done": "Finished"}
RUNNING = ("staging", "sending")
# What a move's notice says once it is done: ?notice= on the campaign's page.
NOTICES = {"paused": "Paused: nothing more is sent until you resume.",
           "resumed": "Resumed: the waiting messages are paced again from now.",
           "cancelled": "Cancelled: the messages still waiting will not be sent."}


def duration(seconds: float) -> str:
    """A rough, readable span: "about 40 seconds", "about 3 minutes", "about 2 h 5 min"."""
    whole = round(seconds)
    if whole < 1:
        return "less than a second"
    if whole < 90:
        return f"about {whole} second{'' if whole == 1 else 's'}"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"about {minutes} minutes"
    hours, rest = divmod(minutes, 60)
    return f"about {hours} h {rest} min"


def _eta(status: str, numbers: Progress) -> str:
    if status in RUNNING and numbers.eta_seconds is not None:
        return f"Last message goes in {duration(numbers.eta_seconds)}"
    return {"paused": "No finish time until it is resumed", "done": "Every message handled",
            "cancelled": "Nothing more will be sent"}.get(status, "Not sent yet")


def _to_send(numbers: Progress) -> int:
    return max(0, numbers.staged - sum(numbers.excluded.values()))


def _handled(numbers: Progress) -> int:
    return numbers.sent + numbers.bounced + numbers.failed + numbers.rejected


def progress_bar(name: str, numbers: Progress) -> str:
    """A ``<progress>`` with its numbers in words beside it (the bar alone is not the figure)."""
    total, done = _to_send(numbers), _handled(numbers)
    if total == 0:
        return "<p class=\"progress-words\">Nothing to send: no address was staged, or every "\
               "one was excluded.</p>"
    done = min(done, total)
    percent = done * 100 // total
    label = html.escape(f"Progress of {name}", quote=True)
    return (
        f"<progress max=\"{total}\" value=\"{done}\" aria-label=\"{label}\">{percent}%</progress>"
        f"<p class=\"progress-words\">{number(done)} of {number(total)} messages handled "
        f"({percent}%)</p>"
    )


def _counts(numbers: Progress, full: bool) -> str:
    shown = [("Sent", numbers.sent), ("Retrying", numbers.retrying),
             ("Failed", numbers.failed), ("Bounced", numbers.bounced)]
    if full:
        shown = [("Waiting", numbers.queued), ("Being sent", numbers.sending), *shown,
                 ("Withdrawn or cancelled", numbers.rejected)]
    return counts((name, number(value)) for name, value in shown)


def _status(status: str) -> str:
    return f"<span class=\"status\">{html.escape(STATUS_WORDS.get(status, status))}</span>"


def _link(row: Any) -> str:
    return paths.DASHBOARD_CAMPAIGN.format(campaign_id=row["id"])


def _listed(row: Any, numbers: Progress) -> str:
    name = html.escape(row["name"])
    return (
        f"<li><h2><a href=\"{_link(row)}\">{name}</a></h2>"
        f"<p>{_status(row['status'])} · {html.escape(_eta(row['status'], numbers))}</p>"
        f"{progress_bar(row['name'], numbers)}{_counts(numbers, full=False)}</li>"
    )


def campaign_list(clinic: Clinic, staff: Staff, listed: list[tuple[Any, Progress]],
                  older: str | None) -> str:
    """``older``: the link to the next page of older campaigns, if there is one."""
    if listed:
        body = "<ul class=\"campaigns\">" + "".join(
            _listed(row, numbers) for row, numbers in listed) + "</ul>"
    elif staff.role == "marketer":
        body = ("<p>You have no campaign yet.</p>"
                f"<p><a class=\"action\" href=\"{paths.DASHBOARD_CAMPAIGN_NEW}\">Create a "
                "campaign</a></p>")
    else:
        body = ("<p>No campaign yet. Marketers create campaigns, with their marketer key; "
                "once one is sent, its progress shows here and you can pause, resume or "
                "cancel it.</p>")
    create = (f"<p><a class=\"action\" href=\"{paths.DASHBOARD_CAMPAIGN_NEW}\">Create a "
              "campaign</a></p>" if listed and staff.role == "marketer" else "")
    more = (f"<p><a href=\"{html.escape(older, quote=True)}\">Older campaigns</a></p>"
            if older else "")
    mine = "your campaigns" if staff.role == "marketer" else "your organization's campaigns"
    return staff_page(clinic, "Campaigns", (
        f"<h1>Campaigns</h1><p class=\"muted\">Newest first: {mine}, with counts only.</p>"
        f"{create}{body}{more}"
    ), staff, paths.DASHBOARD_CAMPAIGNS)


def _move_form(campaign: Any, staff: Staff, path: str, button: str, extra: str = "",
               kind: str = "") -> str:
    action = path.format(campaign_id=campaign["id"])
    css = f" class=\"{kind}\"" if kind else ""
    return (f"<form class=\"move\" method=\"post\" action=\"{action}\">{csrf_field(staff.csrf)}"
            f"{extra}<button type=\"submit\"{css}>{button}</button></form>")


def _controls(campaign: Any, staff: Staff, numbers: Progress) -> str:
    status = campaign["status"]
    if status not in (*RUNNING, "paused"):
        return "<p>This campaign has ended: there is nothing left to pause or cancel.</p>"
    waiting = numbers.queued + numbers.retrying
    first = (_move_form(campaign, staff, paths.DASHBOARD_CAMPAIGN_PAUSE, "Pause")
             if status in RUNNING else
             _move_form(campaign, staff, paths.DASHBOARD_CAMPAIGN_RESUME, "Resume"))
    confirm = (
        "<p class=\"confirm\"><input type=\"checkbox\" id=\"confirm\" name=\"confirm\" "
        "value=\"yes\" required> <label for=\"confirm\">Yes, cancel it: the "
        f"{number(waiting)} message{'' if waiting == 1 else 's'} still waiting will not be sent, "
        "and it cannot be started again.</label></p>"
    )
    cancel = _move_form(campaign, staff, paths.DASHBOARD_CAMPAIGN_CANCEL, "Cancel campaign",
                        confirm, "danger")
    return f"<div class=\"controls\">{first}{cancel}</div>"


def _excluded(numbers: Progress) -> str:
    if not numbers.excluded:
        return "<p>No address was excluded.</p>"
    return counts((reason.replace("_", " ").capitalize(), number(count))
                  for reason, count in sorted(numbers.excluded.items()))


def campaign_detail(clinic: Clinic, staff: Staff, campaign: Any, numbers: Progress,
                    notice: str | None = None, error: str | None = None) -> str:
    name = campaign["name"]
    told = f"<p class=\"notice\" role=\"status\">{html.escape(notice)}</p>" if notice else ""
    rate = campaign["rate_per_second"]
    return staff_page(clinic, name, (
        f"<p><a href=\"{paths.DASHBOARD_CAMPAIGNS}\">All campaigns</a></p>"
        f"<h1>{html.escape(name)}</h1>{told}{alert(error)}"
        f"<p>Status: {_status(campaign['status'])}</p>"
        f"<p>{html.escape(_eta(campaign['status'], numbers))}. Pace: up to {rate:g} "
        "messages a second.</p>"
        f"<section><h2>Progress</h2>{progress_bar(name, numbers)}"
        f"{_counts(numbers, full=True)}</section>"
        f"<section><h2>Controls</h2>{_controls(campaign, staff, numbers)}</section>"
        f"<section><h2>Excluded at fan-out, by reason</h2>"
        f"<p class=\"muted\">Of {number(numbers.staged)} addresses staged.</p>{_excluded(numbers)}"
        "</section>"
    ), staff, paths.DASHBOARD_CAMPAIGNS)
