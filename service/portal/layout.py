"""The frame of every page the service serves: who is writing (the clinic's name and logo) at the
top, how to reach it at the foot. Patient pages and staff pages share it, so no page can leave
out the clinic or its contact. Every value is escaped; no script, no third-party asset.
"""

from __future__ import annotations

import html

from service.core import paths
from service.core.clinic import Clinic


def document(clinic: Clinic, title: str, stylesheet: str, body: str) -> str:
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<meta name=\"robots\" content=\"noindex, nofollow\">"
        f"<title>{html.escape(title)}: {html.escape(clinic.name)}</title>"
        f"<link rel=\"stylesheet\" href=\"{paths.STATIC}/{stylesheet}\"></head>"
        f"<body>{body}</body></html>"
    )


def brand(clinic: Clinic) -> str:
    """The logo (decorative: the name beside it says the same) and the clinic's name."""
    logo = (
        f"<img class=\"logo\" src=\"{paths.CLINIC_LOGO}\" alt=\"\" width=\"40\" height=\"40\">"
        if clinic.has_logo else ""
    )
    name = html.escape(clinic.name)
    return f"<span class=\"brand\">{logo}<span class=\"clinic-name\">{name}</span></span>"


def _phone_link(clinic: Clinic) -> str | None:
    if not (clinic.phone and clinic.tel):
        return None
    return f"<a href=\"{html.escape(clinic.tel, quote=True)}\">{html.escape(clinic.phone)}</a>"


def _website_link(clinic: Clinic) -> str | None:
    if not (clinic.website and clinic.website_host):
        return None
    return (f"<a href=\"{html.escape(clinic.website, quote=True)}\">"
            f"{html.escape(clinic.website_host)}</a>")


def reach(clinic: Clinic) -> str:
    """How to reach the clinic, as the end of a sentence (pages say it where a patient may need
    it; the foot of every page has the rest): its phone, else its website."""
    if phone := _phone_link(clinic):
        return f"call {phone}"
    if website := _website_link(clinic):
        return f"contact {html.escape(clinic.name)} through {website}"
    return f"contact {html.escape(clinic.name)} directly"


def contact(clinic: Clinic) -> str:
    """The clinic's contact, as the foot of every page."""
    lines = [f"<p class=\"clinic-name\">{html.escape(clinic.name)}</p>"]
    if phone := _phone_link(clinic):
        lines.append(f"<p>Phone: {phone}</p>")
    if website := _website_link(clinic):
        lines.append(f"<p>Web: {website}</p>")
    if clinic.postal_address:
        lines.append(f"<p>{html.escape(clinic.postal_address)}</p>")
    return f"<footer class=\"contact\">{''.join(lines)}</footer>"


def page(clinic: Clinic, title: str, body: str) -> str:
    """A patient page: the clinic at the top, ``body`` as the main content, its contact below."""
    return document(clinic, title, "portal.css", (
        f"<header class=\"site\">{brand(clinic)}</header>"
        f"<main id=\"main\">{body}</main>{contact(clinic)}"
    ))
