"""What webhooks allow, decided without I/O: which addresses an endpoint may be reached at, which
URLs may be registered, and what follows a delivery attempt.

The URL is parsed by httpx, the library that later sends to it, so the host checked here is the
host connected to (two parsers disagreeing about a URL is a classic way around SSRF checks).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_CHARS = 2048
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT: someone's inside
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class Refused(ValueError):
    """An endpoint URL or address the service will not send to; the text says why, never
    quoting the URL."""


def address_refusal(address: IPAddress, allow_private: bool) -> str | None:
    """Why an endpoint may not be reached at ``address``, or None when it may.

    ``allow_private`` (WEBHOOK_ALLOW_PRIVATE) admits loopback and private networks only: the
    link-local range holds cloud metadata services, and the rest is never a web server."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return "an IPv4-mapped IPv6 address"
        if address in _NAT64:
            return address_refusal(ipaddress.IPv4Address(address.packed[-4:]), allow_private)
        if address.sixtofour is not None or address.teredo is not None:
            return "a tunnelled IPv4 address"
    if address.is_unspecified or address in _THIS_NETWORK:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_loopback:
        return None if allow_private else "a loopback address"
    if address.is_reserved:
        return "a reserved address"
    if (address.is_private or address in _SHARED or not address.is_global
            or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)):
        return None if allow_private else "a private address"
    return None


def parse_url(raw: object, production: bool) -> httpx.URL:
    """An endpoint URL as it may be registered; raises ``Refused``."""
    if (not isinstance(raw, str) or not 0 < len(raw) <= MAX_URL_CHARS or not raw.isascii()
            or not raw.isprintable() or " " in raw):
        raise Refused(f"must be an absolute URL of at most {MAX_URL_CHARS} printable ASCII "
                      "characters")
    try:
        url = httpx.URL(raw)
    except httpx.InvalidURL:
        raise Refused("is not a valid URL") from None
    schemes = ("https",) if production else ("https", "http")
    if url.scheme not in schemes:
        raise Refused("must be https" if production else "must be https (or http)")
    if not url.host:
        raise Refused("needs a host")
    if url.userinfo:
        # It would be stored and shown as it is: a credential in the clear.
        raise Refused("may not carry a user name or password")
    if url.fragment:
        raise Refused("may not have a #fragment")
    return url


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class NextStep:
    status: Literal["delivered", "pending", "failed"]
    # Seconds until the next attempt, when pending.
    delay: float = 0.0


def succeeded(http_status: int | None) -> bool:
    return http_status is not None and 200 <= http_status < 300


def after_attempt(attempts: int, http_status: int | None,
                  schedule: Sequence[float]) -> NextStep:
    """What becomes of a delivery after its ``attempts``-th attempt: anything but a 2xx (a
    redirect too, which is not followed) waits for the next slot of ``schedule``, and after the
    last one the delivery has failed."""
    if succeeded(http_status):
        return NextStep("delivered")
    if attempts > len(schedule):
        return NextStep("failed")
    return NextStep("pending", schedule[attempts - 1])
