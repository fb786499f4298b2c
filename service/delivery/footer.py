"""Who is writing, and for marketing how to stop it: the last lines of every email.

Every email names the clinic, its postal address and how to reach it, so a patient can check it
is genuine without following its links; a marketing email also shows its unsubscribe link
(CAN-SPAM, 15 U.S.C. 7704(a)(3) and (a)(5)). Everything here comes from settings and the link:
nothing about the patient or the message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from service.core.clinic import Clinic
from service.delivery.paragraphs import Link, Paragraph

_ANGLED = re.compile(r"<([^<>]+)>")


def unsubscribe_url(headers: Mapping[str, str] | None) -> str | None:
    """The https URL of a List-Unsubscribe header: the body shows the very link that mail
    providers' own unsubscribe buttons use, so the two can never disagree."""
    for url in _ANGLED.findall((headers or {}).get("List-Unsubscribe", "")):
        if url.startswith(("https://", "http://")):
            return str(url)
    return None


def footer(clinic: Clinic, unsubscribe: str | None) -> list[Paragraph]:
    lines: list[Paragraph] = [f"Sent by {clinic.name}."]
    if clinic.postal_address:
        lines.append(f"Postal address: {clinic.postal_address}")
    if clinic.phone:
        lines.append(f"Phone: {clinic.phone}")
    if clinic.website:
        lines.append(("Website: ", Link(clinic.website, clinic.website)))
    lines.append(f"Not expecting this email? You can ignore it, or contact {clinic.name} to "
                 "check that it is genuine.")
    if unsubscribe is not None:
        lines += [f"You receive this because you agreed to hear from {clinic.name} by email.",
                  Link("Unsubscribe or change your email preferences", unsubscribe)]
    return lines
