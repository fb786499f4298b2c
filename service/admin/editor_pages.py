"""HTML of the marketer's campaign editor: the new-campaign form with its subject check, the
draft (settings, audience upload, preview link, send), the send confirmation and the preview.
Every value is escaped; the one script (``upload.js``) only enhances the upload form."""

from __future__ import annotations

import html
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.admin.layout import Staff, alert, csrf_field, staff_page
from service.admin.mail_view import as_shown
from service.campaigns import AudienceReport
from service.core import paths
from service.core.clinic import Clinic
from service.core.problems import Problem
from service.delivery import EmailPreview

_E = html.escape


@dataclass(frozen=True, slots=True)
class Checked:
    """The subject policy's verdict on one line of the form: ``problem`` is its refusal."""

    label: str
    text: str
    problem: Problem | None


def _recipients(n: int) -> str:
    return f"{n} recipient" if n == 1 else f"{n} recipients"


def _at(path: str, campaign: Any) -> str:
    return path.format(campaign_id=campaign["id"])


def _verdict(check: Checked) -> str:
    if check.problem is None:
        return f"<p class=\"verdict ok\"><strong>Fine:</strong> this {check.label} is fine.</p>"
    extra = check.problem.extra
    where = ""
    if span := extra.get("span"):
        start, end = span["start"], span["end"]
        marked = (f"{_E(check.text[:start])}<mark>{_E(check.text[start:end])}</mark>"
                  f"{_E(check.text[end:])}")
        where = (f"<p>Refused part, characters {start + 1} to {end}: "
                 f"<span class=\"quoted\">{marked}</span></p>")
    return (
        f"<div class=\"verdict refused\"><p><strong>Refused:</strong> this {check.label} "
        f"cannot be used. {_E(check.problem.title)}: {_E(check.problem.detail or '')}.</p>"
        f"<p>Category: <code>{_E(str(extra.get('category', 'format')))}</code></p>{where}</div>"
    )


def _field(name: str, label: str, control: str, hint: str) -> str:
    """``control`` names ``{name}-hint`` in its aria-describedby."""
    return (f"<label for=\"{name}\">{label}</label>"
            f"<p class=\"hint\" id=\"{name}-hint\">{hint}</p>{control}")


def campaign_form(clinic: Clinic, staff: Staff, values: Mapping[str, str],
                  error: str | None = None, wrong: Collection[str] = (),
                  checks: Sequence[Checked] = ()) -> str:
    def value(name: str) -> str:
        return _E(values.get(name, ""), quote=True)

    def described(name: str) -> str:
        marked = " aria-invalid=\"true\"" if name in wrong else ""
        verdict = " subject-check" if name == "subject" else ""
        return f" aria-describedby=\"{name}-hint{verdict}\"{marked}"

    def line(name: str, required: bool = True) -> str:
        need = " required" if required else ""
        return (f"<input id=\"{name}\" name=\"{name}\" maxlength=\"200\"{need} "
                f"value=\"{value(name)}\"{described(name)}>")

    verdicts = "".join(_verdict(c) for c in checks)
    tracking = " checked" if values.get("tracking") == "on" else ""
    return staff_page(clinic, "New campaign", (
        "<h1>New campaign</h1>"
        "<p>The email says only who writes and shows your subject and teaser; the content is "
        "shown behind the portal link. The subject and the teaser must be generic: nothing "
        "about a condition, a treatment or a person.</p>"
        f"{alert(error)}<form class=\"editor\" method=\"post\" "
        f"action=\"{paths.DASHBOARD_CAMPAIGN_NEW}\">{csrf_field(staff.csrf)}"
        + _field("name", "Name", line("name"), "For you: recipients never see it.")
        + _field("subject", "Subject", line("subject"),
                 "Generic, e.g. “News from Riverside Clinic”. At most 200 characters.")
        + f"<div id=\"subject-check\" role=\"status\">{verdicts}</div>"
        "<button type=\"submit\" class=\"secondary\" name=\"intent\" value=\"check\" "
        "formnovalidate>Check subject</button>"
        + _field("teaser", "Teaser (optional)", line("teaser", required=False),
                 "One generic line shown in the email, checked like the subject.")
        + _field("content", "Content shown in the portal",
                 f"<textarea id=\"content\" name=\"content\" rows=\"6\"{described('content')}>"
                 f"{value('content')}</textarea>",
                 "Needed unless there is a teaser. Never in the email itself.")
        + _field("links", "Links (optional)",
                 f"<textarea id=\"links\" name=\"links\" rows=\"3\"{described('links')}>"
                 f"{value('links')}</textarea>", "One https:// address a line, at most 50.")
        + "<p class=\"check\"><input type=\"checkbox\" id=\"tracking\" name=\"tracking\" "
        f"value=\"on\"{tracking}> <label for=\"tracking\">Count opens and clicks</label></p>"
        + _field("rate_per_second", "Emails per second",
                 "<input id=\"rate_per_second\" name=\"rate_per_second\" type=\"number\" "
                 f"min=\"0.1\" max=\"10000\" step=\"any\" required "
                 f"value=\"{value('rate_per_second') or 50}\"{described('rate_per_second')}>",
                 "From 0.1 to 10000.")
        + _field("scheduled_at", "Send at (optional, UTC)",
                 "<input id=\"scheduled_at\" name=\"scheduled_at\" type=\"datetime-local\" "
                 f"value=\"{value('scheduled_at')}\"{described('scheduled_at')}>",
                 "Empty: as soon as you send it.")
        + "<p><button type=\"submit\" name=\"intent\" value=\"create\">Create draft</button></p>"
        "</form>"
    ), staff, paths.DASHBOARD_CAMPAIGNS)


def _settings(campaign: Any) -> str:
    links = "".join(f"<li>{_E(link)}</li>" for link in campaign["links"]) or "<li>None</li>"
    scheduled = campaign["scheduled_at"]
    rows = (
        ("Subject", _E(campaign["subject"])),
        ("Teaser", _E(campaign["teaser"] or "None")),
        ("Links", f"<ul>{links}</ul>"),
        ("Counts opens and clicks", "Yes" if campaign["tracking"] else "No"),
        ("Emails per second", _E(f"{campaign['rate_per_second']:g}")),
        ("Send at", _E(scheduled.isoformat(" ", "minutes")) if scheduled else "When sent"),
    )
    return "<dl class=\"settings\">" + "".join(
        f"<dt>{name}</dt><dd>{shown}</dd>" for name, shown in rows) + "</dl>"


def _summary(report: AudienceReport) -> str:
    lines = ", ".join(str(n) for n in report.invalid_lines)
    more = " (the first 100 shown)" if report.invalid > len(report.invalid_lines) else ""
    rows = (
        ("Rows read", report.rows, ""),
        ("Accepted", report.accepted, ""),
        ("Left out: already in the audience", report.duplicates, ""),
        ("Left out: not an email address", report.invalid,
         f"Lines {lines}{more}" if lines else ""),
    )
    body = "".join(f"<tr><th scope=\"row\">{name}</th><td>{n}</td><td>{_E(note)}</td></tr>"
                   for name, n, note in rows)
    return (
        "<div id=\"audience-summary\" tabindex=\"-1\"><h3>Upload summary</h3>"
        "<table class=\"summary\"><thead><tr><th scope=\"col\">Rows</th>"
        f"<th scope=\"col\">Count</th><th scope=\"col\">Where</th></tr></thead><tbody>{body}"
        "</tbody></table></div>"
    )


def draft(clinic: Clinic, staff: Staff, campaign: Any, staged: int, notice: str | None = None,
          report: AudienceReport | None = None, error: str | None = None) -> str:
    notice_html = f"<p class=\"notice\" role=\"status\">{_E(notice)}</p>" if notice else ""
    return staff_page(clinic, f"Draft: {campaign['name']}", (
        f"<h1>Draft: {_E(campaign['name'])}</h1>{notice_html}"
        "<p>Not sent yet. Add the audience, look at the email, then send it.</p>"
        f"<section aria-labelledby=\"settings-h\"><h2 id=\"settings-h\">Settings</h2>"
        f"{_settings(campaign)}</section>"
        "<section id=\"audience\" aria-labelledby=\"audience-h\">"
        "<h2 id=\"audience-h\">1. Audience</h2>"
        f"<p>{_recipients(staged)} so far.</p>{alert(error)}"
        f"{_summary(report) if report is not None else ''}"
        f"<form id=\"audience-form\" class=\"upload\" method=\"post\" "
        f"action=\"{_at(paths.DASHBOARD_CAMPAIGN_AUDIENCE, campaign)}\" "
        f"enctype=\"multipart/form-data\">{csrf_field(staff.csrf)}"
        "<label for=\"audience-file\">CSV file</label>"
        "<p class=\"hint\" id=\"audience-hint\">One recipient a line: email, then optionally a "
        "name and your own id (only the address is kept). A header row is skipped. An upload "
        "adds to the recipients already there.</p>"
        "<input type=\"file\" id=\"audience-file\" name=\"audience\" required "
        "accept=\".csv,.txt,text/csv,text/plain\" aria-describedby=\"audience-hint\">"
        "<p><button type=\"submit\">Upload</button></p>"
        "<p class=\"progress\" hidden><label for=\"audience-progress\">Sent</label> "
        "<progress id=\"audience-progress\" max=\"100\" value=\"0\"></progress> "
        "<span id=\"audience-status\" role=\"status\"></span></p></form></section>"
        "<section aria-labelledby=\"preview-h\"><h2 id=\"preview-h\">2. Preview</h2>"
        f"<p><a href=\"{_at(paths.DASHBOARD_CAMPAIGN_PREVIEW, campaign)}\">See the email "
        "exactly as it will be sent</a></p></section>"
        "<section aria-labelledby=\"send-h\"><h2 id=\"send-h\">3. Send</h2>"
        f"<form method=\"post\" action=\"{_at(paths.DASHBOARD_CAMPAIGN_SEND, campaign)}\">"
        f"{csrf_field(staff.csrf)}<p>You will be asked to confirm.</p>"
        "<button type=\"submit\">Send…</button></form></section>"
        f"<script src=\"{paths.STATIC}/upload.js\" defer></script>"
    ), staff, paths.DASHBOARD_CAMPAIGNS)


def confirm_send(clinic: Clinic, staff: Staff, campaign: Any, staged: int) -> str:
    back = f"<p><a href=\"{_at(paths.DASHBOARD_CAMPAIGN, campaign)}\">Back to the draft</a></p>"
    if staged == 0:
        body = "<p>There is no one to send it to yet: upload the audience first.</p>"
    else:
        body = (
            f"<p>It goes to <strong>{_recipients(staged)}</strong>, less any who have not "
            "agreed to marketing "
            "email or have unsubscribed (checked again as it is sent). Once sent, it can be "
            "paused or cancelled, not changed.</p>"
            f"<form method=\"post\" action=\"{_at(paths.DASHBOARD_CAMPAIGN_SEND, campaign)}\">"
            f"{csrf_field(staff.csrf)}<input type=\"hidden\" name=\"confirm\" value=\"yes\">"
            f"<button type=\"submit\">Yes, send to {_recipients(staged)}</button></form>"
        )
    return staff_page(clinic, "Send the campaign?", (
        f"<h1>Send “{_E(campaign['name'])}”?</h1>{body}{back}"
    ), staff, paths.DASHBOARD_CAMPAIGNS)


def preview(clinic: Clinic, staff: Staff, campaign: Any, email: EmailPreview) -> str:
    headers = (("From", email.sender), ("To", f"{email.recipient} (a placeholder)"),
               ("Subject", email.subject))
    return staff_page(clinic, f"Preview: {campaign['name']}", (
        f"<h1>Preview: {_E(campaign['name'])}</h1>"
        "<p>The email exactly as it will be sent, made by the same code as the sending worker. "
        "Only the recipient and the links' tokens (<code>preview</code>) are placeholders: each "
        "recipient gets their own portal, unsubscribe and tracking links.</p>"
        "<dl class=\"settings\">" + "".join(
            f"<dt>{name}</dt><dd>{_E(value)}</dd>" for name, value in headers) + "</dl>"
        "<section aria-labelledby=\"shown-h\"><h2 id=\"shown-h\">As a mail client shows it</h2>"
        f"<div class=\"mail\">{as_shown(email.html)}</div></section>"
        "<section aria-labelledby=\"text-h\"><h2 id=\"text-h\">Text part</h2>"
        f"<pre class=\"mail-source\">{_E(email.text)}</pre></section>"
        "<details><summary>HTML part, as sent</summary>"
        f"<pre class=\"mail-source\">{_E(email.html)}</pre></details>"
        f"<p><a href=\"{_at(paths.DASHBOARD_CAMPAIGN, campaign)}\">Back to the campaign</a></p>"
    ), staff, paths.DASHBOARD_CAMPAIGNS)


def refused(clinic: Clinic, staff: Staff, problem: Problem, back: str) -> str:
    return staff_page(clinic, problem.title, (
        f"<h1>{_E(problem.title)}</h1><p>{_E(problem.detail or '')}</p>"
        f"<p><a href=\"{_E(back, quote=True)}\">Back</a></p>"
    ), staff, paths.DASHBOARD_CAMPAIGNS)
