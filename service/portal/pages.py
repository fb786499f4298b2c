"""HTML for the patient-facing pages. Every value is escaped; no script, no third-party asset.

Each page says who wrote, when, what to do next and how to reach the clinic: a patient who
cannot tell a real message from a phishing one, or who is stuck, is told to call the clinic on
the number the clinic configured, never a number from the message.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path

from service.core.clinic import Clinic
from service.portal.layout import page, reach

# The pages' stylesheets, served under paths.STATIC; shipped in the wheel as package data.
STATIC_DIR = Path(__file__).resolve().parent / "static"
_SHOW = "<form method=\"post\"><button type=\"submit\">Show my message</button></form>"


@dataclass(frozen=True, slots=True)
class Question:
    """What the verification step asks: the sender's hint (None: the default wording), whether
    the answer is a date, and how many wrong answers are left of ``limit``."""

    hint: str | None
    is_date: bool
    tries_left: int
    limit: int


def day(when: dt.datetime) -> dt.date:
    """The calendar day of a stored time, as the service's clock (UTC) counts it."""
    return when.astimezone(dt.UTC).date()


def portal_landing(clinic: Clinic, sent: dt.date, asks: bool) -> str:
    # A mail scanner that fetches the link sees only this: nothing is revealed or changed by GET.
    then = " and answer a question only you should know" if asks else ""
    return page(clinic, "Secure message", (
        f"<h1>You have a secure message from {html.escape(clinic.name)}</h1>{_sent(sent)}"
        f"<p>For your privacy, the message is shown only after you ask for it{then}.</p>"
        + _SHOW + _unexpected(clinic)
    ))


def portal_verify(clinic: Clinic, sent: dt.date, question: Question,
                  problem: str | None = None) -> str:
    """``problem``: None on the first ask, else "wrong" (a try used), "unreadable" (not a
    date) or "blank" (nothing entered); the last two use no try."""
    asked = html.escape(question.hint) if question.hint else "the answer your care team gave you"
    label = _upper(asked)
    left = _tries(question)
    said = {
        "wrong": f"That answer did not match. {left}",
        "unreadable": "We could not read that as a date. Please enter the month, day and year, "
                      "for example 03/14/1980.",
        "blank": "Please enter your answer.",
    }
    error = (f"<p class=\"error\" id=\"answer-error\" role=\"alert\">{said[problem]}</p>"
             if problem else "")
    if question.is_date:
        field = "type=\"date\" "
        how = "Enter the month, day and year, for example 03/14/1980."
    else:
        field = ""
        how = "Capital letters and spaces do not matter."
    still = f"{left} " if problem != "wrong" else ""
    described = "answer-format answer-tries" + (" answer-error" if problem else "")
    invalid = " aria-invalid=\"true\"" if problem else ""
    return page(clinic, "Secure message", (
        f"<h1>Confirm it is you</h1>{_sent(sent)}"
        f"<p>To keep your message private, {html.escape(clinic.name)} asks for {asked} before "
        "showing it.</p>" + error +
        f"<form method=\"post\"><label for=\"answer\">{label}</label>"
        f"<p class=\"field-hint\" id=\"answer-format\">{how}</p>"
        f"<input id=\"answer\" name=\"answer\" {field}autocomplete=\"off\" required "
        f"aria-describedby=\"{described}\"{invalid}>"
        f"<p class=\"field-hint\" id=\"answer-tries\">{still}After {question.limit} wrong "
        "answers the message is locked, to keep it private.</p>"
        "<button type=\"submit\">Show my message</button></form>" + _unexpected(clinic)
    ))


def portal_message(clinic: Clinic, sent: dt.date, until: dt.date, content: str) -> str:
    return page(clinic, "Secure message", (
        f"<h1>Your secure message</h1>{_sent(sent)}"
        f"<div class=\"content\" id=\"message\">{html.escape(content)}</div>"
        "<div class=\"after\" id=\"after\">"
        f"<p><strong>Questions about this message?</strong> {_upper(reach(clinic))}.</p>"
        "<p>You can open this message again from the link in your email until "
        f"{_date(until)}. After that it is deleted.</p>"
        "<p class=\"print-help\">To keep a copy, print this page with your browser's Print "
        "command (Ctrl+P, or Command+P on a Mac; on a phone, Share, then Print).</p></div>"
    ))


def portal_locked(clinic: Clinic) -> str:
    return _notice(
        clinic, "Message locked", "This message is locked",
        "There were too many wrong answers, so the message can no longer be opened from this "
        "link. This keeps it private if someone else has the link.", "To get the message",
    )


def portal_expired(clinic: Clinic, expired: dt.date) -> str:
    return _notice(
        clinic, "Message expired", f"This message expired on {_date(expired)}",
        "Secure messages can be opened only for a limited time. After that, the message is "
        "deleted from this service to keep it private.", "If you still need the information",
    )


def portal_unavailable(clinic: Clinic) -> str:
    # One page for a link that names no message, or a withdrawn one: which it is would help
    # someone guessing links.
    return _notice(
        clinic, "Message not available", "This message is not available",
        "The link may be incomplete: check that you opened the whole link from the email. The "
        "message may also have been withdrawn.", "If you were expecting a message",
    )


def link_unavailable(clinic: Clinic) -> str:
    return _notice(
        clinic, "Link not available", "This link is not available",
        "It may have expired, or been cut short or mistyped: check that you opened the whole "
        "link from the email.", "If you need help",
    )


def _notice(clinic: Clinic, title: str, heading: str, what: str, then: str) -> str:
    """A page that says what happened and then, after ``then``, how to reach the clinic."""
    return page(clinic, title, f"<h1>{heading}</h1><p>{what}</p><p>{then}, {reach(clinic)}.</p>")


def _sent(sent: dt.date) -> str:
    return f"<p class=\"sent\">Sent {_date(sent)}</p>"


def _date(when: dt.date) -> str:
    # Day, month name, year: the same to a reader anywhere, where 03/04 is not.
    return f"<time datetime=\"{when.isoformat()}\">{when.day} {when:%B %Y}</time>"


def _tries(question: Question) -> str:
    if question.tries_left >= question.limit:
        return f"You have {question.limit} tries."
    return f"{question.tries_left} {'try' if question.tries_left == 1 else 'tries'} left."


def _upper(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def _unexpected(clinic: Clinic) -> str:
    return (f"<p class=\"unexpected\">If you were not expecting a message from "
            f"{html.escape(clinic.name)}, do not enter anything here; {reach(clinic)}.</p>")
