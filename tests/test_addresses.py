"""Recipient address syntax, as a table: what is accepted, how it is normalised, what is not."""

from __future__ import annotations

import pytest

from service.core.addresses import AddressError, normalise_address

ACCEPTED = [
    ("patient@example.org", "patient@example.org"),
    ("Pat.Smith+clinic@Example.ORG", "Pat.Smith+clinic@example.org"),
    ("a@b.co", "a@b.co"),
    ("o'brien@mail-host.example.com", "o'brien@mail-host.example.com"),
    ("x@xn--bcher-kva.de", "x@xn--bcher-kva.de"),
    ("x@bücher.de", "x@xn--bcher-kva.de"),
    ("x@" + "a" * 63 + ".org", "x@" + "a" * 63 + ".org"),
]

REFUSED = [
    "", "patient", "@example.org", "patient@", "a@localhost", "a@b..org", "a@.b.org",
    "a@b.org.", "a@-b.org", "a@b-.org", "a@b_c.org", "a@1.2.3.4", "a@[127.0.0.1]",
    "a b@example.org", '"a"@example.org', "a..b@example.org", ".a@example.org",
    "a@example.org\n", "a@example.org\r\nBcc: x@evil.test", "a\n@example.org",
    "x@" + "a" * 64 + ".org", "a" * 65 + "@example.org", "a@" + "b." * 130 + "org",
    "a@exa mple.org", "a@b.org\x00",
]


@pytest.mark.parametrize(("raw", "normalised"), ACCEPTED)
def test_accepted_and_normalised(raw: str, normalised: str) -> None:
    assert normalise_address(raw) == normalised


@pytest.mark.parametrize("raw", REFUSED)
def test_refused(raw: str) -> None:
    with pytest.raises(AddressError):
        normalise_address(raw)
