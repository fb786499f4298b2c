"""Recipient address syntax: a strict subset of RFC 5322 that every relay accepts.

Quoted local parts, comments, IP-literal domains and anything with control characters are refused:
they are rare in real patient addresses and common in header-injection attempts.
"""

from __future__ import annotations

import re

from service.core.crypto import Keyring

# \Z, not $: "$" also matches before a trailing newline, which would let "a\n@b.org" through.
_ATEXT = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")
# Two or more labels of 1-63 letters, digits or inner hyphens.
_DOMAIN = re.compile(r"^(?:(?!-)[a-z0-9-]{1,63}(?<!-)\.)+(?!-)[a-z0-9-]{1,63}(?<!-)\Z")


class AddressError(ValueError):
    pass


def normalise_address(raw: str) -> str:
    """Returns the address with its domain in lower-case ASCII, or raises AddressError."""
    if not isinstance(raw, str):
        raise AddressError("must be a string")
    if len(raw) > 254:
        raise AddressError("is longer than 254 characters")
    local, at, domain = raw.rpartition("@")
    if not at or not local or not domain:
        raise AddressError("must look like name@example.org")
    if len(local) > 64 or not _ATEXT.match(local):
        raise AddressError("has characters not allowed before the @")
    if domain.isascii():
        ascii_domain = domain.lower()  # the IDNA codec would only check what _DOMAIN checks
    else:
        try:
            ascii_domain = domain.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise AddressError("has an invalid domain") from None
    if not _DOMAIN.match(ascii_domain) or ascii_domain.rpartition(".")[2].isdigit():
        raise AddressError("has an invalid domain")
    return f"{local}@{ascii_domain}"


def email_index(keyring: Keyring, address: str, scope: bytes) -> bytes:
    """Blind index of an address within an organization (``scope``, see
    access/organizations.py): equal for any capitalisation, useless without the key."""
    return keyring.mac(b"email-index", scope + address.casefold().encode())
