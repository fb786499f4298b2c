"""The frame of every staff page (sign-in, dashboard, campaigns, health, the campaign editor):
the clinic and the staff navigation at the top, the clinic's contact at the foot. Every value is
escaped; no inline script (the CSP allows none), and every form that changes something carries
the session's CSRF token.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from starlette.responses import HTMLResponse

from service.access import Role
from service.core import paths
from service.core.clinic import Clinic
from service.portal import brand, contact, document

# Under the service-wide "no-referrer", Chromium sends "Origin: null" with a form post, which
# cannot be told from a sandboxed attacker's; the staff pages say "same-origin", so their posts
# carry the real origin and anything else is refused.
_PAGE_HEADERS = {"Referrer-Policy": "same-origin"}

# (path, label, roles that see it): the navigation, in order.
_NAV: tuple[tuple[str, str, tuple[Role, ...]], ...] = (
    (paths.DASHBOARD, "Engagement", ("admin", "marketer")),
    (paths.DASHBOARD_CAMPAIGNS, "Campaigns", ("admin", "marketer")),
    (paths.DASHBOARD_HEALTH, "Delivery health", ("admin",)),
)


@dataclass(frozen=True, slots=True)
class Staff:
    """Who is signed in, as a page shows them, and the CSRF token their forms carry."""

    name: str
    role: Role
    csrf: str


def respond(body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status_code, headers=_PAGE_HEADERS)


def alert(error: str | None) -> str:
    return f"<p class=\"error\" role=\"alert\">{html.escape(error)}</p>" if error else ""


def csrf_field(csrf: str) -> str:
    return f"<input type=\"hidden\" name=\"csrf\" value=\"{html.escape(csrf, quote=True)}\">"


def _navigation(staff: Staff, current: str | None) -> str:
    marked = ' aria-current="page"'
    items = "".join(
        f"<li><a href=\"{path}\"{marked if path == current else ''}>{label}</a></li>"
        for path, label, roles in _NAV if staff.role in roles
    )
    return (
        f"<nav aria-label=\"Staff pages\"><ul>{items}</ul></nav>"
        f"<form class=\"sign-out\" method=\"post\" action=\"{paths.DASHBOARD_LOGOUT}\">"
        f"<span>{html.escape(staff.name)} ({staff.role})</span>{csrf_field(staff.csrf)}"
        "<button type=\"submit\">Sign out</button></form>"
    )


def staff_page(clinic: Clinic, title: str, body: str, staff: Staff | None = None,
               current: str | None = None) -> str:
    """``current`` is the navigation entry this page belongs to (marked for screen readers)."""
    top = _navigation(staff, current) if staff is not None else ""
    return document(clinic, title, "admin.css", (
        f"<header class=\"site\">{brand(clinic)}{top}</header>"
        f"<main id=\"main\">{body}</main>{contact(clinic)}"
    ))
