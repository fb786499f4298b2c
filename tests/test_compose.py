"""The generic notice: standard MIME any client parses, the link, and nothing injected."""

from __future__ import annotations

import pytest

from service.delivery.compose import Composer, HeaderInjection
from tests.helpers import mail_text, parse_mail

URL = "https://portal.clinic.test/p/" + "x" * 43


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
    envelope = Composer(mail_from, clinic).render(
        recipient="pat@example.org", subject=subject, link_url=URL
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
    types = [part.get_content_type() for part in mail.walk()]
    assert types == ["multipart/alternative", "text/plain", "text/html"]
    text = mail_text(mail)
    assert text.count(URL) == 2
    assert clinic in text


def test_message_ids_are_unique() -> None:
    composer = Composer("no-reply@clinic.test", "Clinic")
    ids = {
        parse_mail(composer.render(recipient="a@example.org", subject="s", link_url=URL).data)[
            "Message-ID"
        ]
        for _ in range(50)
    }
    assert len(ids) == 50


def test_html_part_escapes_the_clinic_name() -> None:
    envelope = Composer("no-reply@clinic.test", "<b>Clinic</b>").render(
        recipient="a@example.org", subject="s", link_url=URL
    )
    html = [p for p in parse_mail(envelope.data).walk() if p.get_content_type() == "text/html"]
    assert "&lt;b&gt;Clinic&lt;/b&gt;" in html[0].get_content()


def test_extra_headers_are_included() -> None:
    envelope = Composer("no-reply@clinic.test", "Clinic").render(
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
        Composer("no-reply@clinic.test", "Clinic").render(**values)


def test_the_footer_escapes_the_clinic_settings_and_shows_the_header_link() -> None:
    envelope = Composer(
        "no-reply@clinic.test", "Smith & Co", contact="<call> 555", postal_address="1 A & B St",
    ).render(recipient="a@example.org", subject="s", link_url=URL,
             extra_headers={"List-Unsubscribe": "<mailto:u@x.test>, <https://x.test/u/abc>"})
    mail = parse_mail(envelope.data)
    html = next(p for p in mail.walk() if p.get_content_type() == "text/html").get_content()
    text = next(p for p in mail.walk() if p.get_content_type() == "text/plain").get_content()
    assert '<a href="https://x.test/u/abc">Unsubscribe</a>' in html
    assert "Smith &amp; Co, 1 A &amp; B St" in html and "&lt;call&gt; 555" in html
    assert "https://x.test/u/abc\n" in text and "Smith & Co, 1 A & B St" in text
