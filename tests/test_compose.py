"""The generic notice: standard MIME any client parses, the link, nothing injected, and nothing
that looks like phishing: a link's words never show an address it does not open, marketing never
calls itself a secure message, and every email says who sent it and how to reach them."""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any

import pytest

from service.core.clinic import Clinic
from service.delivery.compose import Composer, HeaderInjection
from tests.helpers import mail_text, parse_mail

URL = "https://portal.clinic.test/p/" + "x" * 43
CLINIC = Clinic("Riverside Clinic", "+1 555 0100", "https://riverside.clinic.test",
                "12 Elm Street, Springfield, IL 62701")
UNSUBSCRIBE = "https://portal.clinic.test/u/" + "u" * 43
MARKETING = {"List-Unsubscribe": f"<{UNSUBSCRIBE}>",
             "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
DESTINATIONS = ("https://riverside.example/flu-shots", "https://riverside.example/hours")
TRACKED = [(d, f"https://portal.clinic.test/t/c/{n}{'c' * 59}")
           for n, d in enumerate(DESTINATIONS)]
PIXEL = "https://portal.clinic.test/t/o/" + "o" * 60
# A URL as the text part prints it, and anything in a link's words that reads as an address.
TEXT_URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
ADDRESS_LIKE = re.compile(r"://|\bwww\.|\b[a-z0-9-]+\.[a-z]{2,}\b", re.IGNORECASE)


def composer(clinic: Clinic = CLINIC, mail_from: str = "no-reply@clinic.test") -> Composer:
    return Composer(mail_from, clinic)


def parts(mail: EmailMessage) -> tuple[str, str]:
    text, html = (next(p for p in mail.walk() if p.get_content_type() == kind).get_content()
                  for kind in ("text/plain", "text/html"))
    return str(text), str(html)


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []
        self._href: str | None = None
        self._words: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href, self._words = dict(attrs).get("href") or "", []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._words.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.found.append((self._href, "".join(self._words).strip()))
            self._href = None


def anchors(html: str) -> list[tuple[str, str]]:
    parser = _Anchors()
    parser.feed(html)
    return parser.found


def assert_links_show_what_they_open(data: bytes) -> list[tuple[str, str]]:
    """Each HTML link's words are words, or exactly its href; the text part prints exactly the
    URLs the HTML links open, no other. Returns the links as (href, words)."""
    text, html = parts(parse_mail(data))
    links = anchors(html)
    assert links
    for href, words in links:
        assert words == href or not ADDRESS_LIKE.search(words), (href, words)
    assert set(TEXT_URL.findall(text)) == {href for href, _ in links}
    return links


@dataclass(frozen=True)
class Case:
    kind: str
    headers: dict[str, str] | None
    opening: str
    link_words: tuple[str, ...]
    marketing: bool
    extra: dict[str, Any]


CASES = {
    "reminder": Case("secure_message", None, "You have a new secure message from Riverside "
                     "Clinic.", ("Read your secure message",), False, {}),
    "marketing send": Case("secure_message", MARKETING, "Riverside Clinic has news for you.",
                           ("Read it on our secure site",), True, {}),
    "campaign, tracked": Case(
        "secure_message", MARKETING, "Riverside Clinic has news for you.",
        ("Read it on our secure site", "Visit link 1 of 2", "Visit link 2 of 2"), True,
        {"teaser": "News and hours from Riverside Clinic", "links": TRACKED,
         "pixel_url": PIXEL}),
    "campaign, untracked": Case(
        "secure_message", MARKETING, "Riverside Clinic has news for you.",
        ("Read it on our secure site", "Visit the link"), True,
        {"links": [(DESTINATIONS[0], DESTINATIONS[0])]}),
    "confirmation": Case("confirmation", None, "Riverside Clinic asks you to confirm",
                         ("Confirm my choice",), False, {}),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_kind_names_its_links_in_words_and_says_who_sent_it(case: Case) -> None:
    # A case's links are (destination, URL followed); the composer is given what is followed.
    given = {**case.extra, "links": [followed for _, followed in case.extra.get("links", ())]}
    data = composer().render(recipient="a@example.org", subject="s", link_url=URL,
                             kind=case.kind, extra_headers=case.headers, **given).data
    links = assert_links_show_what_they_open(data)
    words = [w for _, w in links]
    assert tuple(words[:len(case.link_words)]) == case.link_words
    assert words[len(case.link_words)] == CLINIC.website  # the footer's, the very URL opened
    mail = parse_mail(data)
    text, html = parts(mail)
    for part in (text, html):
        assert case.opening in part
        assert "Postal address: 12 Elm Street, Springfield, IL 62701" in part
        assert "Phone: +1 555 0100" in part and "Website: " in part
        assert "Not expecting this email? You can ignore it, or contact Riverside Clinic" in part
        assert ("secure message" in part) is (case.kind == "secure_message"
                                              and not case.marketing)
        assert ("Unsubscribe or change your email preferences" in part) is case.marketing
        for destination, followed in case.extra.get("links", ()):
            # A tracked link's destination is not printed as if it were the link.
            assert destination not in part or destination == followed
    assert f"Unsubscribe or change your email preferences:\n{UNSUBSCRIBE}\n" in text \
        or not case.marketing
    assert (mail["List-Id"] == '"Riverside Clinic news" <news.clinic.test>') is case.marketing
    if case.marketing:
        assert links[-1] == (UNSUBSCRIBE, "Unsubscribe or change your email preferences")


def test_without_postal_address_or_contact_an_email_still_says_who_sent_it() -> None:
    data = composer(Clinic("Riverside Clinic")).render(
        recipient="a@example.org", subject="s", link_url=URL).data
    for part in parts(parse_mail(data)):
        assert "Sent by Riverside Clinic." in part
        assert "Postal address" not in part and "Phone" not in part and "Website" not in part


@pytest.mark.parametrize(
    ("mail_from", "clinic", "subject"),
    [
        ("Riverside Clinic <no-reply@clinic.test>", "Riverside Clinic",
         "Upcoming Appointment Reminder"),
        ("Clínica Río <no-reply@clinic.test>", "Clínica Río", "Recordatorio de su cita"),
        ("no-reply@clinic.test", "Zürich Praxis", "Ihre Nachricht ✓"),
        ('"Smith, Jones & Co" <no-reply@clinic.test>', "Smith, Jones & Co", "New message"),
    ],
)
def test_renders_parseable_mime(mail_from: str, clinic: str, subject: str) -> None:
    envelope = composer(Clinic(clinic), mail_from).render(
        recipient="pat@example.org", subject=subject, link_url=URL, extra_headers=MARKETING,
    )
    assert envelope.sender == "no-reply@clinic.test"
    assert envelope.recipient == "pat@example.org"
    assert envelope.data.isascii()  # 7-bit clean: no relay needs 8BITMIME or SMTPUTF8
    assert all(len(line) <= 998 for line in envelope.data.split(b"\r\n"))
    mail = parse_mail(envelope.data)
    assert not mail.defects
    assert mail["Subject"] == subject
    assert mail["To"] == "pat@example.org"
    assert mail["From"].addresses[0].addr_spec == "no-reply@clinic.test"
    assert mail["From"].addresses[0].display_name == (clinic if "<" in mail_from else "")
    assert mail["Message-ID"].endswith("@clinic.test>")
    assert mail["Date"].datetime is not None
    assert mail["Auto-Submitted"] == "auto-generated"
    # Quoted when ASCII (a comma is not allowed bare), an encoded word otherwise.
    assert mail["List-Id"].replace('"', "") == f"{clinic} news <news.clinic.test>"
    types = [part.get_content_type() for part in mail.walk()]
    assert types == ["multipart/alternative", "text/plain", "text/html"]
    text = mail_text(mail)
    assert text.count(URL) == 2
    assert clinic in text


def test_message_ids_are_unique() -> None:
    ids = {
        parse_mail(composer().render(recipient="a@example.org", subject="s", link_url=URL).data)[
            "Message-ID"
        ]
        for _ in range(50)
    }
    assert len(ids) == 50


def test_extra_headers_are_included() -> None:
    envelope = composer().render(
        recipient="a@example.org", subject="s", link_url=URL,
        extra_headers={"List-Unsubscribe": "<https://x.test/u/abc>"},
    )
    assert parse_mail(envelope.data)["List-Unsubscribe"] == "<https://x.test/u/abc>"


@pytest.mark.parametrize(
    "field",
    ["recipient", "subject", "link_url"],
)
def test_header_injection_is_impossible(field: str) -> None:
    values = {"recipient": "a@example.org", "subject": "s", "link_url": URL}
    values[field] = values[field] + "\r\nBcc: victim@example.org"
    with pytest.raises(HeaderInjection):
        composer().render(**values)


def test_the_html_part_escapes_the_clinic_settings_and_shows_the_header_link() -> None:
    clinic = Clinic("<b>Smith & Co</b>", "+1 555 0100", "https://x.test/?a=1&b=<2>",
                    "1 A & B St")
    envelope = composer(clinic).render(
        recipient="a@example.org", subject="s", link_url=URL,
        extra_headers={"List-Unsubscribe": "<mailto:u@x.test>, <https://x.test/u/abc>"})
    text, html = parts(parse_mail(envelope.data))
    assert '<a href="https://x.test/u/abc">Unsubscribe or change your email preferences</a>' \
        in html
    assert "&lt;b&gt;Smith &amp; Co&lt;/b&gt;" in html and "1 A &amp; B St" in html
    assert '<a href="https://x.test/?a=1&amp;b=&lt;2&gt;">' in html
    assert "<b>" not in html
    assert "https://x.test/u/abc\n" in text and "<b>Smith & Co</b>" in text


def test_the_date_is_the_second_each_email_is_made() -> None:
    render = composer(Clinic("Riverside Clinic"), "no-reply@clinic.test").render
    dates = []
    for _ in range(2):
        before = dt.datetime.now(dt.UTC).replace(microsecond=0)
        mail = parse_mail(render(recipient="pat@example.org", subject="Reminder",
                                 link_url=URL).data)
        after = dt.datetime.now(dt.UTC)
        dates.append(mail["Date"].datetime)
        assert before <= dates[-1] <= after
        time.sleep(1 - time.time() % 1 + 0.01)  # into the next second
    assert dates[1] > dates[0]
