"""Reading reports: pure, table-driven, and never an exception on hostile input."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from service.core.crypto import Keyring
from service.delivery.return_path import is_return_path_shape, message_of, return_path
from service.inbound.reports import Kind, read
from tests.report_samples import arf, dsn

RP = "bounce+abc@bounces.clinic.test"


@pytest.mark.parametrize(("data", "kind", "detail", "recipient"), [
    (dsn(RP, "Pat@Example.org"), Kind.HARD_BOUNCE, "5.1.1", "pat@example.org"),
    (dsn(RP, "p@example.org", status="5.7.1"), Kind.HARD_BOUNCE, "5.7.1", "p@example.org"),
    (dsn(RP, "p@example.org", status="4.2.2"), Kind.SOFT_BOUNCE, "4.2.2", "p@example.org"),
    (dsn(RP, "p@example.org", action="delayed", status="4.4.7"), Kind.DELAYED, "4.4.7",
     "p@example.org"),
    (dsn(RP, "p@example.org", status="2.0.0"), Kind.UNPARSED, None, None),
    (arf(RP, RP), Kind.COMPLAINT, "abuse", None),
    (arf(RP, None, feedback_type="not-spam"), Kind.UNPARSED, None, None),
    (b"", Kind.UNPARSED, None, None),
    (b"Subject: hello\r\n\r\nnot a report", Kind.UNPARSED, None, None),
    (b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x--",
     Kind.UNPARSED, None, None),
    (b"Content-Type: multipart/report; report-type=\xff\xfe\r\n\r\n\x00\x01", Kind.UNPARSED,
     None, None),
])
def test_reports_are_read_as_their_rfcs_say(data: bytes, kind: Kind, detail: str | None,
                                            recipient: str | None) -> None:
    report = read(data)
    assert (report.kind, report.detail, report.final_recipient) == (kind, detail, recipient)
    if kind is Kind.UNPARSED:
        assert report.reason


def test_the_original_return_path_is_found_in_both_kinds() -> None:
    assert read(dsn(RP, "p@example.org", return_path=RP)).return_paths == (RP,)
    assert read(arf("fbl@clinic.test", RP)).return_paths == (RP,)


def test_reports_built_to_be_slow_to_parse_are_refused_at_once() -> None:
    """The email package's parameter parsing is quadratic: 150,000 parameters took 91 s."""
    head = b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\""
    hostile = [
        head + b"; a=b" * 150_000 + b"\r\n\r\n--b--\r\n",
        head + b"\r\n\r\n" + b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" * 30_000,
        b"X-Long: " + b"x" * 40_000 + b"\r\n\r\nbody",
    ]
    for data in hostile:
        started = time.perf_counter()
        report = read(data)
        assert time.perf_counter() - started < 0.5
        assert (report.kind, report.reason) == (Kind.UNPARSED, "too complex to be a report")


def test_random_bytes_never_raise() -> None:
    for n in range(300):
        blob = os.urandom(n * 7)
        assert read(b"Content-Type: multipart/report; report-type=delivery-status;"
                    b" boundary=b\r\n\r\n--b\r\n" + blob).kind is Kind.UNPARSED
        assert read(blob).kind is Kind.UNPARSED


def test_a_return_path_names_its_message_and_nothing_else_does() -> None:
    keyring = Keyring.generate()
    message = uuid.uuid4()
    address = return_path(keyring, "bounces.clinic.test", message)
    local = address.partition("@")[0]
    assert len(local) <= 64 and message.hex not in address
    assert message_of(keyring, "bounces.clinic.test", address) == message
    assert message_of(keyring, "BOUNCES.clinic.test", address.upper()) == message  # case folded
    assert message_of(Keyring.generate(), "bounces.clinic.test", address) is None
    assert message_of(keyring, "other.test", address) is None
    forged = return_path(Keyring.generate(), "bounces.clinic.test", message)
    assert message_of(keyring, "bounces.clinic.test", forged) is None
    tampered = address[:10] + ("a" if address[10] != "a" else "b") + address[11:]
    assert message_of(keyring, "bounces.clinic.test", tampered) is None
    assert message_of(keyring, "bounces.clinic.test", "bounce+!!@bounces.clinic.test") is None
    assert is_return_path_shape(address, "bounces.clinic.test")
    assert not is_return_path_shape("postmaster@bounces.clinic.test", "bounces.clinic.test")
