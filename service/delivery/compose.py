"""The email a patient receives: a generic note and the portal link, never the content.

Built by hand rather than with ``email.message.EmailMessage``: the generic bodies differ only in
the link, so everything else is encoded once per worker, and a message costs microseconds instead
of the ~3 ms the email package spends on header objects. Bodies are base64 UTF-8, which every
relay accepts (7-bit clean, short lines) whatever the clinic's name is written in.
"""

from __future__ import annotations

import base64
import html
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.headerregistry import Address
from email.utils import format_datetime, parseaddr
from functools import lru_cache

from service.delivery.footer import footer_html, footer_text, unsubscribe_url


@dataclass(frozen=True, slots=True)
class Envelope:
    sender: str
    recipient: str
    data: bytes


class HeaderInjection(ValueError):
    pass


def _clean(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise HeaderInjection("header values may not contain control characters")
    return value


@lru_cache(maxsize=1024)
def encode_header(value: str) -> str:
    """RFC 2047 encoding for non-ASCII text, folded; plain ASCII stays readable."""
    _clean(value)
    if value.isascii():
        return value
    return Header(value, "utf-8").encode(linesep="\r\n")


def encode_mailbox(mailbox: str) -> str:
    """``Name <addr>`` with the display name encoded when it is not ASCII."""
    name, address = parseaddr(_clean(mailbox))
    if not address or "@" not in address:
        raise ValueError("not a mailbox")
    if not name:
        return address
    if name.isascii():
        return str(Address(display_name=name, addr_spec=address))
    return f"{encode_header(name)} <{address}>"


def _base64_lines(text: str) -> bytes:
    return base64.encodebytes(text.encode()).replace(b"\n", b"\r\n")


class Composer:
    """Renders the generic notice for one sender identity (MAIL_FROM, the clinic's name, and
    the contact and postal address its footers show)."""

    def __init__(self, mail_from: str, clinic_name: str, *, contact: str | None = None,
                 postal_address: str | None = None) -> None:
        self._sender = parseaddr(mail_from)[1]
        self._domain = self._sender.rpartition("@")[2] or "localhost"
        self._from_header = encode_mailbox(mail_from)
        self._clinic = clinic_name
        self._contact = contact
        self._postal_address = postal_address

    def render(
        self, *, recipient: str, subject: str, link_url: str, kind: str = "secure_message",
        teaser: str | None = None, extra_headers: dict[str, str] | None = None,
        links: Sequence[tuple[str, str]] = (), pixel_url: str | None = None,
        message_id: str | None = None,
    ) -> Envelope:
        """``links`` are a campaign's registered links as (destination shown, URL to follow);
        ``pixel_url`` is its open pixel when the campaign counts opens. ``message_id`` is the
        Message-ID's left part, the same for every send of one message (random if not given)."""
        boundary = "=_" + secrets.token_hex(16)
        headers = [
            ("From", self._from_header),
            ("To", _clean(recipient)),
            ("Subject", encode_header(subject)),
            ("Date", format_datetime(datetime.now(UTC))),
            ("Message-ID", f"<{_clean(message_id or secrets.token_hex(16))}@{self._domain}>"),
            ("MIME-Version", "1.0"),
            ("Auto-Submitted", "auto-generated"),
            *((name, encode_header(value)) for name, value in (extra_headers or {}).items()),
            ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
        ]
        url = _clean(link_url)
        text, html_body = _BODIES[kind]
        parts = [
            ("text/plain", text(self._clinic, url)),
            ("text/html", html_body(self._clinic, url)),
        ]
        if teaser:
            # A campaign's short non-PHI line, checked by the subject policy when created.
            parts = [
                ("text/plain", f"{teaser}\n\n" + parts[0][1]),
                ("text/html", _with_teaser_html(parts[1][1], teaser)),
            ]
        if links or pixel_url:
            parts = [
                ("text/plain", parts[0][1] + _links_text(links)),
                ("text/html", _with_links_html(parts[1][1], links, pixel_url)),
            ]
        # Marketing is what carries an unsubscribe link (campaigns, and single sends whose
        # purpose is marketing: messages/outbox.py seals a link for those only).
        unsubscribe = unsubscribe_url(extra_headers)
        footer = (self._clinic, self._contact, self._postal_address, unsubscribe)
        parts = [
            ("text/plain", parts[0][1] + footer_text(*footer)),
            ("text/html", parts[1][1].replace("</body>", footer_html(*footer) + "</body>", 1)),
        ]
        out = [f"{name}: {value}\r\n".encode() for name, value in headers]
        out.append(b"\r\n")
        for content_type, body in parts:
            out.append(
                f"--{boundary}\r\nContent-Type: {content_type}; charset=utf-8\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\n".encode()
            )
            out.append(_base64_lines(body))
        out.append(f"--{boundary}--\r\n".encode())
        return Envelope(self._sender, recipient, b"".join(out))


def _secure_text(clinic: str, url: str) -> str:
    return (
        f"You have a new secure message from {clinic}.\n\n"
        f"To read it, open this link:\n{url}\n\n"
        "For your privacy, the message itself is not included in this email.\n"
        "If you were not expecting this message, you can ignore it.\n"
    )


def _secure_html(clinic: str, url: str) -> str:
    return _html(
        f"<p>You have a new secure message from {html.escape(clinic)}.</p>"
        f"<p><a href=\"{html.escape(url, quote=True)}\">Read your secure message</a></p>"
        "<p>For your privacy, the message itself is not included in this email.</p>"
    )


def _confirm_text(clinic: str, url: str) -> str:
    return (
        f"{clinic} asks you to confirm that you want to receive its newsletters and offers "
        "by email.\n\n"
        f"To confirm, open this link:\n{url}\n\n"
        "If you did not ask for this, ignore this email and you will get nothing more.\n"
    )


def _confirm_html(clinic: str, url: str) -> str:
    return _html(
        f"<p>{html.escape(clinic)} asks you to confirm that you want to receive its newsletters "
        "and offers by email.</p>"
        f"<p><a href=\"{html.escape(url, quote=True)}\">Confirm my choice</a></p>"
        "<p>If you did not ask for this, ignore this email and you will get nothing more.</p>"
    )


def _with_teaser_html(document: str, teaser: str) -> str:
    marker = "line-height:1.5\">"
    return document.replace(marker, marker + f"<p>{html.escape(teaser)}</p>", 1)


def _links_text(links: Sequence[tuple[str, str]]) -> str:
    return "".join(f"\n{_clean(shown)}:\n{_clean(url)}\n" for shown, url in links)


def _with_links_html(
    document: str, links: Sequence[tuple[str, str]], pixel_url: str | None
) -> str:
    extra = "".join(
        f"<p><a href=\"{html.escape(_clean(url), quote=True)}\">{html.escape(shown)}</a></p>"
        for shown, url in links
    )
    if pixel_url:
        extra += (
            f"<img src=\"{html.escape(_clean(pixel_url), quote=True)}\" width=\"1\" height=\"1\" "
            "alt=\"\">"
        )
    return document.replace("</body>", extra + "</body>", 1)


def _html(body: str) -> str:
    return (
        "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\">"
        f"{body}</body></html>"
    )


_BODIES = {
    "secure_message": (_secure_text, _secure_html),
    "confirmation": (_confirm_text, _confirm_html),
}
