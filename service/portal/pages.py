"""HTML for the patient-facing pages. Every value is escaped; no script, no third-party asset."""

from __future__ import annotations

import html
from pathlib import Path

from service.core.clinic import Clinic
from service.portal.layout import page

# The pages' stylesheets, served under paths.STATIC; shipped in the wheel as package data.
STATIC_DIR = Path(__file__).resolve().parent / "static"


def portal_landing(clinic: Clinic) -> str:
    # A mail scanner that fetches the link sees only this: nothing is revealed or changed by GET.
    return page(clinic, "Secure message", (
        "<h1>You have a secure message</h1>"
        "<p>For your privacy, the message is shown only after you ask for it.</p>"
        "<form method=\"post\"><button type=\"submit\">Show my message</button></form>"
    ))


def portal_verify(clinic: Clinic, failed: bool) -> str:
    error = (
        "<p class=\"error\" role=\"alert\">That answer did not match. Please try again.</p>"
        if failed else ""
    )
    return page(clinic, "Secure message", (
        "<h1>Confirm it is you</h1>"
        "<p>Please enter the answer your care team asked you to use "
        "(for example, your date of birth).</p>" + error +
        "<form method=\"post\"><label for=\"answer\">Your answer</label><br>"
        "<input id=\"answer\" name=\"answer\" autocomplete=\"off\" required><br><br>"
        "<button type=\"submit\">Show my message</button></form>"
    ))


def portal_message(clinic: Clinic, content: str) -> str:
    return page(clinic, "Secure message", (
        "<h1>Your secure message</h1>"
        f"<div class=\"content\" id=\"message\">{html.escape(content)}</div>"
        "<p class=\"muted\">Close this window when you are done.</p>"
    ))


def portal_unavailable(clinic: Clinic) -> str:
    # One page for unknown, expired and locked links: which one it is would help a guesser.
    return page(clinic, "Message not available", (
        "<h1>This message is not available</h1>"
        "<p>The link may have expired or been used up. Please contact your care team.</p>"
    ))


def link_unavailable(clinic: Clinic) -> str:
    return page(clinic, "Link not available", (
        "<h1>This link is not available</h1>"
        "<p>It may have expired or been mistyped. Please contact your care team.</p>"
    ))
