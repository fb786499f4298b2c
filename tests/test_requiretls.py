"""REQUIRETLS (RFC 8689) against the real STARTTLS test relay: asked for whenever the relay offers
it, and with SMTP_REQUIRETLS=required a relay that does not offer it gets nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from service.core.config import Settings
from service.devtools.certs import CertFiles
from service.devtools.relay import Mailbox, start_relay
from tests.conftest import free_port, run_worker
from tests.helpers import auth, send


@pytest.fixture
def requiretls_relay(pki: CertFiles) -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox(requiretls=True)
    port = free_port()
    controller = start_relay(box, "127.0.0.1", port, pki)
    yield box, port
    controller.stop()


async def status_of(client: httpx.AsyncClient, key: str, message_id: str) -> tuple[str, str | None]:
    body = (await client.get(f"/v1/messages/{message_id}", headers=auth(key))).json()
    return body["status"], body["last_error_class"]


@pytest.mark.parametrize("mode", ["auto", "required"])
async def test_a_relay_offering_requiretls_is_asked_for_it(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mode: str,
    requiretls_relay: tuple[Mailbox, int],
) -> None:
    box, port = requiretls_relay
    message_id = (await send(client, keys["sender"])).json()["id"]
    await run_worker(replace(settings, smtp_port=port, smtp_requiretls=mode))  # type: ignore[arg-type]
    assert len(box.messages) == 1
    assert len(box.mail_params) == 1 and "REQUIRETLS" in box.mail_params[0]
    assert (await status_of(client, keys["sender"], message_id)) == ("sent", None)


async def test_a_relay_without_requiretls_gets_the_message_in_auto_mode(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> None:
    message_id = (await send(client, keys["sender"])).json()["id"]
    await run_worker(settings)
    assert len(mailbox.messages) == 1
    assert mailbox.mail_params and "REQUIRETLS" not in mailbox.mail_params[0]
    assert (await status_of(client, keys["sender"], message_id)) == ("sent", None)


async def test_required_and_not_offered_sends_nothing_and_waits(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> None:
    message_id = (await send(client, keys["sender"])).json()["id"]
    await run_worker(replace(settings, smtp_requiretls="required"))
    assert mailbox.mail_from_seen == 0 and mailbox.messages == []
    assert (await status_of(client, keys["sender"], message_id)) == (
        "retrying", "requiretls_unsupported")
