"""Webhook policy, without I/O: which addresses an endpoint may be reached at, which URLs may be
registered, the retry schedule, and a refused address is never connected to."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from service.webhooks.policy import Refused, address_refusal, after_attempt, parse_url
from service.webhooks.transport import post

# address, refused without WEBHOOK_ALLOW_PRIVATE, refused with it
ADDRESSES = [
    ("93.184.215.14", False, False),
    ("2606:4700::1111", False, False),
    ("127.0.0.1", True, False),
    ("127.8.9.10", True, False),
    ("::1", True, False),
    ("10.1.2.3", True, False),
    ("172.16.0.1", True, False),
    ("192.168.1.1", True, False),
    ("100.64.0.1", True, False),  # carrier-grade NAT
    ("fc00::1", True, False),  # unique local
    ("fec0::1", True, False),  # site-local
    ("192.0.2.1", True, False),  # documentation
    ("169.254.169.254", True, True),  # cloud metadata
    ("fe80::1", True, True),
    ("224.0.0.1", True, True),
    ("ff02::1", True, True),
    ("ff0e::1", True, True),  # global-scope multicast
    ("0.0.0.0", True, True),  # noqa: S104
    ("0.1.2.3", True, True),
    ("::", True, True),
    ("240.0.0.1", True, True),
    ("255.255.255.255", True, True),
    ("::ffff:127.0.0.1", True, True),  # IPv4-mapped
    ("::ffff:93.184.215.14", True, True),
    ("64:ff9b::a00:1", True, False),  # NAT64 of 10.0.0.1
    ("64:ff9b::5db8:d70e", False, False),  # NAT64 of 93.184.215.14
    ("2002:c0a8:101::1", True, True),  # 6to4
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", True, True),  # Teredo
]


@pytest.mark.parametrize(("address", "refused", "refused_if_private_allowed"), ADDRESSES)
def test_which_addresses_an_endpoint_may_be_reached_at(
    address: str, refused: bool, refused_if_private_allowed: bool,
) -> None:
    ip = ipaddress.ip_address(address)
    assert (address_refusal(ip, allow_private=False) is not None) is refused
    assert (address_refusal(ip, allow_private=True) is not None) is refused_if_private_allowed


@pytest.mark.parametrize(("url", "production", "accepted"), [
    ("https://hooks.clinic.example/in", True, True),
    ("http://hooks.clinic.example/in", True, False),
    ("http://hooks.clinic.example/in", False, True),
    ("ftp://hooks.clinic.example/in", False, False),
    ("file:///etc/passwd", False, False),
    ("https://user:secret@hooks.clinic.example/", False, False),
    ("https://hooks.clinic.example/#frag", False, False),
    ("https:///nohost", False, False),
    ("https://hooks.clinic.example/a b", False, False),
    ("https://hööks.example/", False, False),
    ("https://x.example/" + "a" * 2048, False, False),
    (42, False, False),
])
def test_which_urls_may_be_registered(url: object, production: bool, accepted: bool) -> None:
    try:
        parse_url(url, production)
    except Refused:
        assert not accepted
    else:
        assert accepted


def test_the_retry_schedule_is_data_and_ends_in_failure() -> None:
    schedule = (5, 300, 1800)
    assert after_attempt(1, 204, schedule).status == "delivered"
    assert [after_attempt(n, 500, schedule).delay for n in (1, 2, 3)] == [5, 300, 1800]
    assert after_attempt(4, 500, schedule).status == "failed"
    assert after_attempt(1, None, schedule).status == "pending"
    # A redirect is not followed, and not a success either.
    assert after_attempt(1, 302, schedule).status == "pending"


@pytest.mark.parametrize("url", ["http://10.0.0.5/hooks", "http://169.254.169.254/latest",
                                 "http://[::ffff:10.0.0.5]/", "http://0.0.0.0:8080/"])
async def test_a_refused_address_is_never_connected_to(url: str) -> None:
    def connect(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"connected to {request.url}")

    async with httpx.AsyncClient(transport=httpx.MockTransport(connect)) as client:
        answer = await post(client, httpx.URL(url), b"{}", {}, allow_private=False)
    assert (answer.http_status, answer.error_class) == (None, "address_refused")
