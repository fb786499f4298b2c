"""HTML for the patient's unsubscribe and confirmation pages, in the portal's layout."""

from __future__ import annotations

import html

from service.core.clinic import Clinic
from service.portal import page


def unsubscribe_landing(clinic: Clinic) -> str:
    # GET only asks: a scanner that follows the link must not unsubscribe anyone.
    return page(clinic, "Unsubscribe", (
        "<h1>Unsubscribe from marketing emails</h1>"
        f"<p>Stop newsletters and offers from {html.escape(clinic.name)}? Messages about your care "
        "are not affected.</p>"
        "<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" "
        "value=\"One-Click\"><button type=\"submit\">Unsubscribe</button></form>"
    ))


def unsubscribed(clinic: Clinic) -> str:
    return page(clinic, "Unsubscribed", (
        "<h1>You are unsubscribed</h1>"
        f"<p>You will get no more marketing emails from {html.escape(clinic.name)}.</p>"
    ))


def confirm_landing(clinic: Clinic) -> str:
    return page(clinic, "Confirm your choice", (
        "<h1>Confirm your email preferences</h1>"
        f"<p>Do you want to receive newsletters and offers from {html.escape(clinic.name)} by "
        "email? You can unsubscribe at any time with the link in every such email.</p>"
        "<form method=\"post\"><button type=\"submit\">Yes, confirm</button></form>"
    ))


def confirmed(clinic: Clinic) -> str:
    return page(clinic, "Confirmed", (
        "<h1>Thank you</h1>"
        f"<p>Your choice is confirmed. {html.escape(clinic.name)} may now send you newsletters and "
        "offers by email.</p>"
    ))
