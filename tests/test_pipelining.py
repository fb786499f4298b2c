"""PIPELINING (RFC 2920) in the worker's SMTP client: MAIL, RCPT and DATA go in one write when
the relay offers it inside TLS, never when it does not, and replies stay paired with their
commands whatever the relay does: refusals inside a group, replies split across packets, a
reply no command asked for, DATA taken after a refused recipient.

A scripted STARTTLS relay on loopback records what arrives in each read once TLS is up, so the
test sees the client's writes as the relay does.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field

import pytest

from service.delivery.compose import Envelope
from service.delivery.retry import ErrorClass
from service.delivery.smtp import DeliveryError, RelayConfig, SmtpPool
from service.devtools.certs import CertFiles
from service.devtools.relay import server_tls_context

CONTENT = b"Subject: x\r\n\r\nCANARY-pipelined\r\n"


def envelope(recipient: str) -> Envelope:
    return Envelope("no-reply@clinic.test", recipient, CONTENT)


@dataclass
class Script:
    pipelining: bool = True
    # Recipients' local parts and the RCPT reply they get.
    refuse: dict[str, str] = field(default_factory=dict)
    # The reply to MAIL, once; then MAIL is taken again.
    refuse_mail: str | None = None
    # Answer DATA with 354 even when no recipient was taken (a broken or hostile relay).
    lax_data: bool = False
    # After each message's 250, also send this, unasked.
    unsolicited: bytes = b""
    # Send each reply in two packets, the second a little later.
    split: bool = False
    # What arrived in each read inside TLS, per connection.
    reads: list[list[bytes]] = field(default_factory=list)
    delivered: list[bytes] = field(default_factory=list)


async def _reply(writer: asyncio.StreamWriter, script: Script, text: bytes) -> None:
    if script.split and len(text) > 4:
        writer.write(text[:4])
        await writer.drain()
        await asyncio.sleep(0.02)
        text = text[4:]
    writer.write(text)
    await writer.drain()


async def relay(script: Script, context: ssl.SSLContext, reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter) -> None:
    try:
        writer.write(b"220 relay.test ESMTP\r\n")
        while (line := await reader.readline()).upper().startswith(b"EHLO") is False:
            if not line:
                return
        writer.write(b"250-relay.test\r\n250 STARTTLS\r\n")
        assert (await reader.readline()).upper().startswith(b"STARTTLS")
        writer.write(b"220 go ahead\r\n")
        await writer.drain()
        await writer.start_tls(context)
        reads: list[bytes] = []
        script.reads.append(reads)
        await _session(script, reader, writer, reads)
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def _session(script: Script, reader: asyncio.StreamReader,
                   writer: asyncio.StreamWriter, reads: list[bytes]) -> None:
    pending = b""
    taken = 0  # recipients taken in this transaction
    in_mail = False  # a MAIL was taken
    content: bytes | None = None  # inside DATA: what arrived so far
    while chunk := await reader.read(65536):
        reads.append(chunk)
        pending += chunk
        if content is not None:
            content += pending
            pending = b""
            if content.endswith(b"\r\n.\r\n"):
                script.delivered.append(content)
                content = None
                await _reply(writer, script, b"250 2.0.0 queued\r\n" + script.unsolicited)
            continue
        while b"\r\n" in pending and content is None:
            line, _, pending = pending.partition(b"\r\n")
            verb = line[:4].upper()
            if verb == b"EHLO":
                caps = b"250-relay.test\r\n" + (b"250-PIPELINING\r\n" if script.pipelining
                                                  else b"") + b"250 SIZE 1000000\r\n"
                await _reply(writer, script, caps)
            elif verb == b"MAIL":
                taken, refusal = 0, script.refuse_mail
                script.refuse_mail, in_mail = None, refusal is None
                await _reply(writer, script, (refusal or "250 2.1.0 ok").encode() + b"\r\n")
            elif verb == b"RCPT" and not in_mail:
                await _reply(writer, script, b"503 5.5.1 need MAIL first\r\n")
            elif verb == b"RCPT":
                local = line.split(b"<", 1)[1].split(b"@", 1)[0].decode()
                refusal = script.refuse.get(local)
                taken += refusal is None
                await _reply(writer, script, (refusal or "250 2.1.5 ok").encode() + b"\r\n")
            elif verb == b"DATA" and (taken or script.lax_data):
                content = pending
                pending = b""
                await _reply(writer, script, b"354 go ahead\r\n")
            elif verb == b"DATA":
                await _reply(writer, script, b"554 5.5.1 no valid recipients\r\n")
            elif verb == b"RSET":
                taken, in_mail = 0, False
                await _reply(writer, script, b"250 2.0.0 ok\r\n")
            elif verb == b"QUIT":
                await _reply(writer, script, b"221 bye\r\n")
                return
            else:
                await _reply(writer, script, b"500 unknown\r\n")


@pytest.fixture
async def start(pki: CertFiles):  # type: ignore[no-untyped-def]
    servers: list[asyncio.Server] = []
    pools: list[SmtpPool] = []
    handlers: set[asyncio.Task[None]] = set()

    async def _start(script: Script) -> SmtpPool:
        context = server_tls_context(pki)

        def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            handlers.add(asyncio.create_task(relay(script, context, r, w)))

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        pool = SmtpPool(RelayConfig("127.0.0.1", port, "starttls", str(pki.ca_cert),
                                    timeout=3.0, pool_size=1))
        pools.append(pool)
        return pool

    yield _start
    for pool in pools:
        await pool.close()
    for server in servers:
        server.close()
    for task in handlers:
        task.cancel()
    await asyncio.gather(*handlers, return_exceptions=True)


def commands(read: bytes) -> list[bytes]:
    return [line.split(b" ", 1)[0].split(b":", 1)[0].upper()
            for line in read.split(b"\r\n") if line]


async def test_mail_rcpt_and_data_go_in_one_write_when_the_relay_offers_pipelining(
    start,  # type: ignore[no-untyped-def]
) -> None:
    script = Script(pipelining=True)
    pool = await start(script)
    for i in range(3):
        await pool.send(envelope(f"p{i}@example.org"))
    assert len(script.delivered) == 3 and len(script.reads) == 1  # one session for all three
    groups = [commands(read) for read in script.reads[0] if read.startswith(b"MAIL")]
    assert groups == [[b"MAIL", b"RCPT", b"DATA"]] * 3


async def test_nothing_is_pipelined_when_the_relay_does_not_offer_it(
    start,  # type: ignore[no-untyped-def]
) -> None:
    script = Script(pipelining=False)
    pool = await start(script)
    for i in range(2):
        await pool.send(envelope(f"p{i}@example.org"))
    assert len(script.delivered) == 2
    command_reads = [commands(read) for read in script.reads[0]
                     if read[:4] in (b"MAIL", b"RCPT", b"DATA")]
    assert command_reads == [[b"MAIL"], [b"RCPT"], [b"DATA"]] * 2


@pytest.mark.parametrize(("reply", "error_class"), [
    ("550 5.1.1 no such user", ErrorClass.MAILBOX_UNKNOWN),
    ("451 4.3.0 try later", ErrorClass.TEMPORARY),
])
async def test_a_refused_recipient_in_a_group_fails_only_its_message(
    start, reply: str, error_class: ErrorClass,  # type: ignore[no-untyped-def]
) -> None:
    script = Script(refuse={"refused": reply}, split=True)
    pool = await start(script)
    with pytest.raises(DeliveryError) as caught:
        await pool.send(envelope("refused@example.org"))
    assert caught.value.failure.error_class is error_class
    # The DATA reply of the failed group was read, not left to answer the next MAIL.
    await pool.send(envelope("next@example.org"))
    assert len(script.delivered) == 1 and b"next@" not in script.delivered[0]
    assert len(script.reads) == 1  # the session went on


async def test_a_refused_sender_fails_only_its_message(
    start,  # type: ignore[no-untyped-def]
) -> None:
    script = Script(refuse_mail="452 4.3.1 insufficient storage")
    pool = await start(script)
    with pytest.raises(DeliveryError) as caught:
        await pool.send(envelope("first@example.org"))
    assert caught.value.failure.error_class is ErrorClass.TEMPORARY
    await pool.send(envelope("second@example.org"))
    assert len(script.delivered) == 1 and len(script.reads) == 1


async def test_a_relay_that_takes_data_after_refusing_every_recipient_gets_no_content(
    start,  # type: ignore[no-untyped-def]
) -> None:
    script = Script(refuse={"refused": "550 5.1.1 no such user"}, lax_data=True)
    pool = await start(script)
    with pytest.raises(DeliveryError) as caught:
        await pool.send(envelope("refused@example.org"))
    assert caught.value.failure.error_class is ErrorClass.MAILBOX_UNKNOWN
    await asyncio.sleep(0.1)
    # Closed right after the group's replies: not even an RSET, which would go as content.
    assert script.reads[0][-1].startswith(b"MAIL")
    await pool.send(envelope("next@example.org"))  # on a new session: the old one was closed
    assert len(script.reads) == 2 and len(script.delivered) == 1


async def test_a_reply_no_command_asked_for_ends_the_session(
    start,  # type: ignore[no-untyped-def]
) -> None:
    script = Script(unsolicited=b"421 4.4.2 idle too long\r\n")
    pool = await start(script)
    await pool.send(envelope("first@example.org"))
    await asyncio.sleep(0.1)  # the 421 arrives while the session is idle in the pool
    await pool.send(envelope("second@example.org"))
    # Taken as MAIL's reply, the 421 would have failed the second message; it went on a new
    # session instead.
    assert len(script.delivered) == 2 and len(script.reads) == 2
