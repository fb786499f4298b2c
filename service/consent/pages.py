"""HTML for the patient's preference centre (behind the unsubscribe link) and the double opt-in
confirmation, in the portal's layout. Every value is escaped."""

from __future__ import annotations

import html

from service.consent.choices import STOPS, Choice
from service.core.clinic import Clinic
from service.portal import page, reach

# What each choice stops, in the patient's words: (label, what it covers).
_WORDING: dict[Choice, tuple[str, str]] = {
    "marketing": ("Only newsletters and offers",
                  "Marketing emails about the clinic's services. Other emails keep coming."),
    "non_treatment": ("Every email that is not about my care",
                      "Newsletters and offers, and also surveys, office news and billing "
                      "notices."),
}
_ERROR_ID = "choice-error"


def _care(clinic: Clinic) -> str:
    return (
        "<h2>Messages about your care continue</h2>"
        "<p>Whatever you choose here, you still get messages about your care, such as "
        "appointment reminders and secure messages from your care team: they are part of your "
        "treatment, and missing one could affect your health. If you do not want those by email "
        f"either, please {reach(clinic)}.</p>"
    )


def _option(choice: Choice, selected: Choice) -> str:
    label, covers = _WORDING[choice]
    field = f"choice-{choice.replace('_', '-')}"
    checked = " checked" if choice == selected else ""
    return (
        f"<div class=\"choice\"><input type=\"radio\" name=\"choice\" id=\"{field}\" "
        f"value=\"{choice}\" aria-describedby=\"{field}-hint\"{checked}>"
        f"<label for=\"{field}\">{html.escape(label)}</label>"
        f"<p class=\"hint muted\" id=\"{field}-hint\">{html.escape(covers)}</p></div>"
    )


def preference_centre(clinic: Clinic, action: str, selected: Choice, error: bool = False) -> str:
    # GET only shows this: a scanner that follows the link must not unsubscribe anyone.
    alert = (
        f"<p class=\"error\" role=\"alert\" id=\"{_ERROR_ID}\">Please choose one of the options "
        "below, then press Unsubscribe.</p>" if error else ""
    )
    described = f" aria-describedby=\"{_ERROR_ID}\"" if error else ""
    options = "".join(_option(choice, selected) for choice in STOPS)
    return page(clinic, "Unsubscribe", (
        "<h1>Unsubscribe</h1>"
        f"<p>Choose which emails from {html.escape(clinic.name)} you want to stop. Nothing "
        "changes until you press the button.</p>" + alert +
        f"<form method=\"post\" action=\"{html.escape(action, quote=True)}\">"
        f"<fieldset{described}><legend>Which emails do you want to stop?</legend>{options}"
        "</fieldset><button type=\"submit\">Unsubscribe</button></form>"
        + _care(clinic) +
        "<h2>If you change your mind</h2>"
        "<p>You can open this link again to stop more emails. To start getting emails you "
        f"stopped again, please {reach(clinic)}.</p>"
    ))


def preferences_saved(clinic: Clinic, in_effect: Choice, again: str) -> str:
    """What is stopped now, in full: ``in_effect`` may be wider than the choice just posted when
    the ledger already stopped more."""
    name = html.escape(clinic.name)
    if in_effect == "non_treatment":
        done = (f"<p>You will get no more emails from {name} except about your care.</p>"
                "<p>Appointment reminders and secure messages from your care team still reach "
                "you.</p>")
    else:
        done = (f"<p>You will get no more newsletters or offers from {name} by email.</p>"
                "<p>Other emails, such as surveys, office news, billing notices and messages "
                "about your care, still reach you. To stop every email that is not about your "
                f"care, <a href=\"{html.escape(again, quote=True)}\">change your choice</a>.</p>")
    return page(clinic, "Unsubscribed", (
        "<h1>You are unsubscribed</h1>" + done +
        f"<p>Changed your mind? To get these emails again, please {reach(clinic)}.</p>"
    ))


def unsubscribed(clinic: Clinic) -> str:
    """The answer to the one-click POST (RFC 8058), which a mail client may show."""
    return page(clinic, "Unsubscribed", (
        "<h1>You are unsubscribed</h1>"
        f"<p>You will get no more marketing emails from {html.escape(clinic.name)}.</p>"
    ))


def confirm_landing(clinic: Clinic) -> str:
    name = html.escape(clinic.name)
    return page(clinic, "Confirm your choice", (
        "<h1>Confirm your email preferences</h1>"
        f"<p>Do you want to receive newsletters and offers from {name} by email? You can "
        "unsubscribe at any time with the link in every such email.</p>"
        "<form method=\"post\"><button type=\"submit\">Yes, confirm</button></form>"
        "<p>If you did not ask for these emails, close this page: nothing changes unless you "
        "press the button. Messages about your care reach you either way.</p>"
    ))


def confirmed(clinic: Clinic) -> str:
    name = html.escape(clinic.name)
    return page(clinic, "Confirmed", (
        "<h1>Thank you</h1>"
        f"<p>Your choice is confirmed. {name} may now send you newsletters and offers by "
        "email.</p><p>To stop them, use the unsubscribe link at the foot of any of them, or "
        f"{reach(clinic)}.</p>"
    ))
