"""Who is writing, and for marketing how to stop it: the last lines of every email.

A marketing email shows its unsubscribe link and the clinic's postal address (CAN-SPAM,
15 U.S.C. 7704(a)(3) and (a)(5)); every other email shows the clinic's name and how to reach it.
Everything here comes from settings and the link: nothing about the patient or the message.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

_ANGLED = re.compile(r"<([^<>]+)>")


def unsubscribe_url(headers: Mapping[str, str] | None) -> str | None:
    """The https URL of a List-Unsubscribe header: the body shows the very link that mail
    providers' own unsubscribe buttons use, so the two can never disagree."""
    for url in _ANGLED.findall((headers or {}).get("List-Unsubscribe", "")):
        if url.startswith(("https://", "http://")):
            return str(url)
    return None


def footer_text(clinic: str, contact: str | None, postal_address: str | None,
                unsubscribe: str | None) -> str:
    lines = ["", "--"]
    if unsubscribe is not None:
        lines += [f"You receive this because you agreed to hear from {clinic} by email.",
                  f"To unsubscribe, open this link:\n{unsubscribe}"]
        lines.append(f"{clinic}, {postal_address}" if postal_address else clinic)
    else:
        lines.append(f"Sent by {clinic}.")
    if contact:
        lines.append(f"Questions? Contact {clinic}: {contact}")
    return "\n".join(lines) + "\n"


def footer_html(clinic: str, contact: str | None, postal_address: str | None,
                unsubscribe: str | None) -> str:
    name = html.escape(clinic)
    paragraphs = []
    if unsubscribe is not None:
        paragraphs += [
            f"You receive this because you agreed to hear from {name} by email.",
            f"<a href=\"{html.escape(unsubscribe, quote=True)}\">Unsubscribe</a>",
            f"{name}, {html.escape(postal_address)}" if postal_address else name,
        ]
    else:
        paragraphs.append(f"Sent by {name}.")
    if contact:
        paragraphs.append(f"Questions? Contact {name}: {html.escape(contact)}")
    return (
        "<hr><div style=\"font-size:small;color:#555\">"
        + "".join(f"<p>{p}</p>" for p in paragraphs)
        + "</div>"
    )
