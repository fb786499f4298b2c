"""An SMTP session's commands and replies once its TLS is proven: MAIL, RCPT and DATA go in one
write when the relay offers PIPELINING (RFC 2920), so a message costs two writes and two waits
for the relay instead of four.

aiosmtplib reads exactly one reply per command and drops what arrives while no command waits, so
it cannot pipeline. It still connects, upgrades to TLS, says EHLO and logs in (``smtp.py``); then
``Wire`` takes the transport over (``set_protocol``, asyncio's own hand-over), and every later
byte of the session goes through it. Replies are matched to commands by count: a reply that no
command asked for (a relay's "421 closing" while the session is idle, or anything injected)
ends the session rather than be taken as the answer to the next command.
"""

from __future__ import annotations

import asyncio
import re
import typing
from collections import deque
from collections.abc import Awaitable

import aiosmtplib
from aiosmtplib import SMTPResponse, SMTPStatus

# aiosmtplib's limit for one reply line; a relay sending longer ones is broken or hostile.
MAX_LINE = 8192

# A line of content that starts with a dot, which SMTP's end mark would misread (RFC 5321 4.5.2).
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


class Wire(asyncio.Protocol):
    def __init__(self, transport: asyncio.BaseTransport, timeout: float,
                 pipelining: bool) -> None:
        self.pipelining = pipelining
        # aiosmtplib's transport, a writable one, typed as its base.
        self._transport = typing.cast(asyncio.Transport, transport)
        self._timeout = timeout
        self._buffer = bytearray()
        self._lines: list[bytes] = []  # the lines of a multi-line reply read so far
        self._replies: deque[SMTPResponse] = deque()
        self._owed = 0  # replies due for commands written and not yet answered
        self._waiter: asyncio.Future[None] | None = None
        self._error: aiosmtplib.SMTPException | None = None
        transport.set_protocol(self)

    @property
    def connected(self) -> bool:
        return self._error is None and not self._transport.is_closing()

    def close(self) -> None:
        self._fail(aiosmtplib.SMTPServerDisconnected("Connection closed"))

    def send(self, data: bytes, replies: int) -> None:
        """Writes ``data``, which holds ``replies`` commands (or one message's content)."""
        if not self.connected:
            raise self._error or aiosmtplib.SMTPServerDisconnected("Connection lost")
        self._owed += replies
        self._transport.write(data)

    async def reply(self) -> SMTPResponse:
        while not self._replies:
            if self._error is not None:
                raise self._error
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._waiter, self._timeout)
            except TimeoutError:
                # A reply may still come and would then answer the wrong command.
                self._fail(aiosmtplib.SMTPReadTimeoutError("Timed out waiting for a reply"))
            finally:
                self._waiter = None
        return self._replies.popleft()

    # asyncio.Protocol

    def data_received(self, data: bytes) -> None:
        if self._error is not None:
            return
        self._buffer += data
        while (end := self._buffer.find(b"\n")) != -1:
            line = bytes(self._buffer[:end + 1])
            del self._buffer[:end + 1]
            if not self._read_line(line):
                return
        if len(self._buffer) > MAX_LINE:
            self._fail(aiosmtplib.SMTPResponseException(-1, "reply line too long"))
            return
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(aiosmtplib.SMTPServerDisconnected("Connection lost"))

    def eof_received(self) -> bool:
        return False  # closes the transport; connection_lost follows

    def _read_line(self, line: bytes) -> bool:
        if len(line) > MAX_LINE or not line[:3].isdigit() or line[3:4] not in (b" ", b"-",
                                                                              b"\r", b"\n"):
            self._fail(aiosmtplib.SMTPResponseException(-1, "malformed reply"))
            return False
        self._lines.append(line[4:].strip(b" \t\r\n"))
        if line[3:4] == b"-":
            return True
        if self._owed == 0:
            self._fail(aiosmtplib.SMTPServerDisconnected("unsolicited reply"))
            return False
        self._owed -= 1
        message = b"\n".join(self._lines).decode("utf-8", "surrogateescape")
        self._lines = []
        self._replies.append(SMTPResponse(int(line[:3]), message))
        return True

    def _fail(self, error: aiosmtplib.SMTPException) -> None:
        if self._error is None:
            self._error = error
            self._transport.close()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


async def transaction(wire: Wire, mail: bytes, rcpt: bytes, content: bytes,
                      before_data: Awaitable[None] | None) -> None:
    """MAIL, RCPT and DATA for one recipient, pipelined when the relay offers it, then the
    content. ``before_data`` is awaited once the relay has said go ahead (354): the content
    alone delivers, and the worker's record of the session commits first, overlapped with the
    commands. A refusal raises aiosmtplib's exception for its command, with the relay's code."""
    commands = (b"MAIL " + mail + b"\r\n", b"RCPT " + rcpt + b"\r\n", b"DATA\r\n")
    if wire.pipelining:
        wire.send(b"".join(commands), len(commands))
        replies = [await wire.reply() for _ in commands]  # every one, to stay in step
    else:
        replies = []
        for command in commands:
            wire.send(command, 1)
            replies.append(reply := await wire.reply())
            if reply.code not in (SMTPStatus.completed, SMTPStatus.will_forward,
                                  SMTPStatus.start_input):
                break
    refusal = _refusal(replies)
    if refusal is not None:
        if replies[-1].code == SMTPStatus.start_input:
            # A relay that took DATA after refusing MAIL or RCPT now waits for content that
            # must not go: only closing ends that.
            wire.close()
        raise refusal
    if before_data is not None:
        await before_data
    wire.send(_LEADING_DOT.sub(b"..", content) + b".\r\n", 1)
    reply = await wire.reply()
    if reply.code != SMTPStatus.completed:
        raise aiosmtplib.SMTPDataError(reply.code, reply.message)


def _refusal(replies: list[SMTPResponse]) -> aiosmtplib.SMTPResponseException | None:
    mail, rest = replies[0], replies[1:]
    if mail.code != SMTPStatus.completed:
        return aiosmtplib.SMTPSenderRefused(mail.code, mail.message, "")
    if not rest:
        return None
    rcpt, rest = rest[0], rest[1:]
    if rcpt.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
        return aiosmtplib.SMTPRecipientRefused(rcpt.code, rcpt.message, "")
    if not rest or rest[0].code != SMTPStatus.start_input:
        data = rest[0] if rest else SMTPResponse(-1, "no reply to DATA")
        return aiosmtplib.SMTPDataError(data.code, data.message)
    return None


async def command(wire: Wire, line: bytes) -> SMTPResponse:
    """One command outside a transaction (RSET, QUIT)."""
    wire.send(line + b"\r\n", 1)
    return await wire.reply()
