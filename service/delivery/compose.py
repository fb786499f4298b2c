"""The email a patient receives: a generic note and the portal link, never the content.

Nothing in it looks like phishing: a link's words never show an address other than the one it
opens (HTML shows words; the text part shows the very URL followed), a marketing email does not
call itself a secure message, and every email says who sent it, where the clinic is and how to
reach it (``footer.py``). Both parts are drawn from one list of paragraphs, so they never differ.

Built by hand rather than with ``email.message.EmailMessage``: the generic bodies differ only in
the link, so everything else is encoded once per worker, and a message costs microseconds instead
of the ~3 ms the email package spends on header objects. Bodies are base64 UTF-8, which every
relay accepts (7-bit clean, short lines) whatever the clinic's name is written in.
"""

from __future__ import annotations

import base64
import html
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.headerregistry import Address
from email.utils import format_datetime, parseaddr, quote
from functools import lru_cache

from service.core.clinic import Clinic
from service.core.fields import HEADER_CONTROL
from service.delivery.footer import footer, unsubscribe_url
from service.delivery.paragraphs import Link, Paragraph, as_html, as_text


@dataclass(frozen=True, slots=True)
class Envelope:
    sender: str
    recipient: str
    data: bytes


class HeaderInjection(ValueError):
    pass


def _clean(value: str) -> str:
    # A compiled search, not a loop over characters: it runs on every header and link of every
    # email, and was a tenth of the worker's time as a generator.
    if HEADER_CONTROL.search(value):
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
    """Renders the generic notice for one sender identity: MAIL_FROM, and the clinic whose name,
    postal address and contact every email shows."""

    def __init__(self, mail_from: str, clinic: Clinic) -> None:
        self._sender = parseaddr(mail_from)[1]
        self._domain = self._sender.rpartition("@")[2] or "localhost"
        self._from_header = encode_mailbox(mail_from)
        self._clinic = clinic
        name = f"{clinic.name} news"
        self._list_name = f'"{quote(_clean(name))}"' if name.isascii() else encode_header(name)
        self._date: tuple[int, str] = (-1, "")

    def render(
        self, *, recipient: str, subject: str, link_url: str, kind: str = "secure_message",
        teaser: str | None = None, extra_headers: dict[str, str] | None = None,
        links: Sequence[str] = (), pixel_url: str | None = None,
        message_id: str | None = None,
    ) -> Envelope:
        """``links`` are the URLs a campaign's links follow (with tracking, the click redirect,
        not the destination: only what is followed is ever shown).
        ``pixel_url`` is its open pixel when the campaign counts opens. ``message_id`` is the
        Message-ID's left part, the same for every send of one message (random if not given)."""
        boundary = "=_" + secrets.token_hex(16)
        # Marketing is what carries an unsubscribe link (campaigns, and single sends whose
        # purpose is marketing: messages/outbox.py seals a link for those only), and it is not
        # a secure message, whatever the portal shows.
        unsubscribe = unsubscribe_url(extra_headers)
        if kind == "secure_message" and unsubscribe is not None:
            kind = "marketing"
        headers = [
            ("From", self._from_header),
            ("To", _clean(recipient)),
            ("Subject", encode_header(subject)),
            ("Date", self._date_header()),
            ("Message-ID", f"<{_clean(message_id or secrets.token_hex(16))}@{self._domain}>"),
            ("MIME-Version", "1.0"),
            ("Auto-Submitted", "auto-generated"),
            *((name, encode_header(value)) for name, value in (extra_headers or {}).items()),
            ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
        ]
        if kind == "marketing":
            # A list's name (RFC 2919) beside its List-Unsubscribe, as bulk senders give:
            # filters score List-Unsubscribe alone on a short email as a spammer's.
            headers.insert(-1, ("List-Id", f"{self._list_name} <news.{self._domain}>"))
        body = _BODIES[kind](self._clinic.name, _clean(link_url))
        if teaser:
            # A campaign's short non-PHI line, checked by the subject policy when created.
            body.insert(1, teaser)
        body += [Link(words, _clean(url))
                 for words, url in zip(_link_words(len(links)), links, strict=True)]
        pixel = "" if pixel_url is None else (
            f'<img src="{html.escape(_clean(pixel_url), quote=True)}" width="1" height="1" '
            'alt="">')
        foot = footer(self._clinic, unsubscribe)
        parts = [
            ("text/plain", as_text(body) + "\n\n--\n" + as_text(foot, "\n") + "\n"),
            ("text/html", _html(as_html(body) + pixel + _FOOT_HTML.format(as_html(foot)))),
        ]
        out = [f"{name}: {value}\r\n".encode() for name, value in headers]
        out.append(b"\r\n")
        for content_type, text in parts:
            out.append(
                f"--{boundary}\r\nContent-Type: {content_type}; charset=utf-8\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\n".encode()
            )
            out.append(_base64_lines(text))
        out.append(f"--{boundary}--\r\n".encode())
        return Envelope(self._sender, recipient, b"".join(out))

    def _date_header(self) -> str:
        """Now, to the second as the header gives it, formatted once a second: formatting it
        was a twentieth of composing a campaign's email."""
        second = int(time.time())
        if self._date[0] != second:
            self._date = (second, format_datetime(datetime.fromtimestamp(second, UTC)))
        return self._date[1]


def _link_words(count: int) -> list[str]:
    if count == 1:
        return ["Visit the link"]
    return [f"Visit link {n} of {count}" for n in range(1, count + 1)]


def _secure(clinic: str, url: str) -> list[Paragraph]:
    return [f"You have a new secure message from {clinic}.",
            Link("Read your secure message", url),
            "For your privacy, the message itself is not included in this email."]


def _marketing(clinic: str, url: str) -> list[Paragraph]:
    return [f"{clinic} has news for you.", Link("Read it on our secure site", url)]


def _confirmation(clinic: str, url: str) -> list[Paragraph]:
    return [f"{clinic} asks you to confirm that you want to receive its newsletters and offers "
            "by email.",
            Link("Confirm my choice", url),
            "If you did not ask for this, ignore this email and you will get nothing more."]


_FOOT_HTML = '<hr><div style="font-size:small;color:#555">{}</div>'


def _html(body: str) -> str:
    return (
        '<!doctype html><html lang="en"><body style="font-family:sans-serif;line-height:1.5">'
        f"{body}</body></html>"
    )


_BODIES: dict[str, Callable[[str, str], list[Paragraph]]] = {
    "secure_message": _secure,
    "marketing": _marketing,
    "confirmation": _confirmation,
}
