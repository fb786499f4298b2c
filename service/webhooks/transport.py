"""One webhook request, sent to the address that was checked.

The endpoint's name is resolved at every attempt, every address it resolves to must pass
``policy.address_refusal``, and the request goes to the checked address itself, with the name
kept in the Host header and in TLS (SNI and certificate verification): a DNS answer that changes
between the check and the connection (rebinding) cannot move the request anywhere else.
No redirect is followed, no proxy from the environment is used, and the response body is never
read: only its status counts.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass

import httpx

from service.webhooks.policy import IPAddress, Refused, address_refusal, literal_address

RESOLVE_SECONDS = 5.0
# The whole request, connection to status line: a slow endpoint holds up nothing for longer.
TIMEOUT_SECONDS = 10.0


class Unresolvable(Refused):
    """The name did not resolve (now): worth another try later."""


@dataclass(frozen=True, slots=True)
class Answer:
    http_status: int | None
    # Why there is no status: a class, never the exception's text.
    error_class: str | None
    duration_ms: int


async def checked_address(url: httpx.URL, allow_private: bool) -> IPAddress:
    """The address to connect to; raises ``Refused`` naming the first reason it may not."""
    literal = literal_address(url.host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            async with asyncio.timeout(RESOLVE_SECONDS):
                found = await asyncio.get_running_loop().getaddrinfo(
                    url.host, port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError):
            raise Unresolvable("does not resolve") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in found]
        if not addresses:
            raise Unresolvable("does not resolve")
    # Every address, not just the one used: a name that also points inside is refused whole.
    for address in addresses:
        if (why := address_refusal(address, allow_private)) is not None:
            raise Refused(f"resolves to {why}")
    return addresses[0]


def new_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False)


async def post(client: httpx.AsyncClient, url: httpx.URL, body: bytes, headers: dict[str, str],
               allow_private: bool) -> Answer:
    started = time.monotonic()

    def answer(status: int | None, error: str | None) -> Answer:
        return Answer(status, error, round((time.monotonic() - started) * 1000))

    try:
        address = await checked_address(url, allow_private)
    except Unresolvable:
        return answer(None, "dns_failed")
    except Refused:
        return answer(None, "address_refused")
    request = client.build_request(
        "POST", url.copy_with(host=str(address)), content=body,
        headers={**headers, "host": url.netloc.decode("ascii")},
        extensions={"sni_hostname": url.host},
    )
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            response = await client.send(request, stream=True)
            await response.aclose()
    except (httpx.TimeoutException, TimeoutError):
        return answer(None, "timeout")
    except httpx.ConnectError:
        return answer(None, "connect_failed")
    except httpx.HTTPError:
        return answer(None, "protocol_error")
    return answer(response.status_code, None)
