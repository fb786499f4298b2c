"""HTML for the patient-facing pages. Every value is escaped; no script, no third-party asset."""

from __future__ import annotations

import html


def page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<meta name=\"robots\" content=\"noindex, nofollow\">"
        f"<title>{html.escape(title)}</title>"
        "<link rel=\"stylesheet\" href=\"/static/portal.css\"></head>"
        f"<body><main>{body}</main></body></html>"
    )


def portal_landing() -> str:
    # A mail scanner that fetches the link sees only this: nothing is revealed or changed by GET.
    return page("Secure message", (
        "<h1>You have a secure message</h1>"
        "<p>For your privacy, the message is shown only after you ask for it.</p>"
        "<form method=\"post\"><button type=\"submit\">Show my message</button></form>"
    ))


def portal_verify(failed: bool) -> str:
    error = (
        "<p class=\"error\" role=\"alert\">That answer did not match. Please try again.</p>"
        if failed else ""
    )
    return page("Secure message", (
        "<h1>Confirm it is you</h1>"
        "<p>Please enter the answer your care team asked you to use "
        "(for example, your date of birth).</p>" + error +
        "<form method=\"post\"><label for=\"answer\">Your answer</label><br>"
        "<input id=\"answer\" name=\"answer\" autocomplete=\"off\" required><br><br>"
        "<button type=\"submit\">Show my message</button></form>"
    ))


def portal_message(content: str) -> str:
    return page("Secure message", (
        "<h1>Your secure message</h1>"
        f"<div class=\"content\" id=\"message\">{html.escape(content)}</div>"
        "<p class=\"muted\">Close this window when you are done.</p>"
    ))


def portal_unavailable() -> str:
    # One page for unknown, expired and locked links: which one it is would help a guesser.
    return page("Message not available", (
        "<h1>This message is not available</h1>"
        "<p>The link may have expired or been used up. Please contact your care team.</p>"
    ))


def unsubscribe_landing(clinic: str) -> str:
    # GET only asks: a scanner that follows the link must not unsubscribe anyone.
    return page("Unsubscribe", (
        "<h1>Unsubscribe from marketing emails</h1>"
        f"<p>Stop newsletters and offers from {html.escape(clinic)}? Messages about your care "
        "are not affected.</p>"
        "<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" "
        "value=\"One-Click\"><button type=\"submit\">Unsubscribe</button></form>"
    ))


def unsubscribed(clinic: str) -> str:
    return page("Unsubscribed", (
        "<h1>You are unsubscribed</h1>"
        f"<p>You will get no more marketing emails from {html.escape(clinic)}.</p>"
    ))


def confirm_landing(clinic: str) -> str:
    return page("Confirm your choice", (
        "<h1>Confirm your email preferences</h1>"
        f"<p>Do you want to receive newsletters and offers from {html.escape(clinic)} by email? "
        "You can unsubscribe at any time with the link in every such email.</p>"
        "<form method=\"post\"><button type=\"submit\">Yes, confirm</button></form>"
    ))


def confirmed(clinic: str) -> str:
    return page("Confirmed", (
        "<h1>Thank you</h1>"
        f"<p>Your choice is confirmed. {html.escape(clinic)} may now send you newsletters and "
        "offers by email.</p>"
    ))


def link_unavailable() -> str:
    return page("Link not available", (
        "<h1>This link is not available</h1>"
        "<p>It may have expired or been mistyped. Please contact your care team.</p>"
    ))
