"""SMTP transport: TLS required, certificates verified, connections pooled.

aiosmtplib's default ``start_tls=None`` quietly stays in plaintext when a relay does not offer
STARTTLS. We run the STARTTLS steps ourselves (or use implicit TLS) and, before any MAIL FROM,
check that the transport really is TLS 1.2 or newer: a relay that cannot do that gets nothing.
Each step is named (``Phase``) so that a refusal before verified TLS, which anyone on the path
could have forged, is never taken as final (``retry.classify_reply``).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import ssl
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiosmtplib

from service.delivery import wire
from service.delivery.compose import Envelope
from service.delivery.retry import ErrorClass, Failure, Phase, classify_reply

_TLS_VERSIONS = ("TLSv1.2", "TLSv1.3")

# An ASCII mailbox that cannot break out of its angle brackets or the command line.
_MAILBOX = re.compile(r"[!-;=?-~]+@[!-;=?-~]+")


class DeliveryError(Exception):
    """Carries a classified failure; its text never includes an address."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.error_class.value)
        self.failure = failure


@dataclass(frozen=True, slots=True)
class RelayConfig:
    host: str
    port: int
    tls: str  # "starttls" or "implicit"
    ca_file: str | None = None
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    pool_size: int = 4
    requiretls: str = "auto"  # "required": a relay without REQUIRETLS (RFC 8689) gets nothing


@dataclass(frozen=True, slots=True)
class TransportEvidence:
    """How one delivery was protected (HIPAA 164.312(e)): it names the relay, never a
    recipient, so it can sit in the audit log."""

    tls_version: str
    cipher: str
    certificate_sha256: str  # hex, of the relay's DER certificate
    verified_name: str  # the host name the certificate was checked against

    def audit_detail(self) -> str:
        return (f"tls={self.tls_version} cipher={self.cipher} "
                f"cert_sha256={self.certificate_sha256} name={self.verified_name}")


@dataclass(frozen=True, slots=True)
class Session:
    """A proven TLS session, its transport handed from aiosmtplib to ``wire.Wire``, with what
    its relay offered inside TLS."""

    wire: wire.Wire
    evidence: TransportEvidence
    size: bool
    requiretls: bool


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


async def open_connection(config: RelayConfig, context: ssl.SSLContext) -> Session:
    """Connects, upgrades to TLS, proves the upgrade, and logs in when configured."""
    implicit = config.tls == "implicit"
    client = aiosmtplib.SMTP(
        hostname=config.host,
        port=config.port,
        use_tls=implicit,
        start_tls=False,
        tls_context=context,
        validate_certs=True,
        timeout=config.timeout,
    )
    # Even over implicit TLS the greeting counts as before TLS: the session is proven below.
    phase = Phase.GREETING
    try:
        await client.connect()
        if not implicit:
            phase = Phase.EHLO
            await client.ehlo()  # no HELO fallback: without EHLO there is no STARTTLS
            if not client.supports_extension("starttls"):
                raise DeliveryError(Failure(ErrorClass.TLS_UNAVAILABLE))
            phase = Phase.STARTTLS
            await client.starttls()
        evidence = _evidence(client, config.host)
        phase = Phase.SESSION
        if client.is_ehlo_or_helo_needed:  # STARTTLS forgets the first EHLO (RFC 3207)
            await client.ehlo()
        if config.username and config.password:
            await client.login(config.username, config.password)
        transport = client.transport
        if transport is None:
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    except DeliveryError:
        client.close()
        raise
    except (aiosmtplib.SMTPException, OSError, ssl.SSLError, TimeoutError) as exc:
        client.close()
        raise DeliveryError(classify_connect_error(exc, phase)) from None
    return Session(
        wire.Wire(transport, config.timeout, client.supports_extension("pipelining")),
        evidence, client.supports_extension("size"), client.supports_extension("requiretls"),
    )


def _evidence(client: aiosmtplib.SMTP, host: str) -> TransportEvidence:
    ssl_object = client.get_transport_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        raise DeliveryError(Failure(ErrorClass.TLS_HANDSHAKE))
    version, cipher, der = ssl_object.version(), ssl_object.cipher(), ssl_object.getpeercert(True)
    if version not in _TLS_VERSIONS or cipher is None or not der:
        raise DeliveryError(Failure(ErrorClass.TLS_HANDSHAKE))
    return TransportEvidence(version, cipher[0], hashlib.sha256(der).hexdigest(), host)


def classify_connect_error(exc: BaseException, phase: Phase) -> Failure:
    for cause in _chain(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return Failure(ErrorClass.TLS_CERTIFICATE)
        if isinstance(cause, ssl.SSLError):
            return Failure(ErrorClass.TLS_HANDSHAKE)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return Failure(ErrorClass.AUTH, exc.code)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return classify_reply(exc.code, exc.message, phase)
    return Failure(ErrorClass.NETWORK)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


class SmtpPool:
    """At most ``pool_size`` concurrent TLS sessions, kept open and reused across messages."""

    def __init__(self, config: RelayConfig) -> None:
        self._config = config
        self._context = tls_context(config.ca_file)
        self._idle: list[Session] = []
        self._slots = asyncio.Semaphore(config.pool_size)

    async def send(self, envelope: Envelope,
                   before_data: Awaitable[None] | None = None) -> TransportEvidence:
        """Delivers one message or raises DeliveryError; returns how the session that took it was
        protected. A stale pooled session gets one redo. ``before_data`` is awaited once the
        relay has said go ahead to DATA, before the content (which alone can deliver) is sent:
        the worker's record of the session's progress commits there, overlapped with MAIL,
        RCPT and DATA."""
        async with self._slots:
            for fresh in (False, True):
                async with self._session(fresh) as session:
                    try:
                        await _transaction(session, envelope, self._config.requiretls,
                                           before_data)
                        return session.evidence
                    except aiosmtplib.SMTPResponseException as exc:
                        await _reset(session)
                        failure = classify_reply(exc.code, exc.message, Phase.IN_TLS)
                        raise DeliveryError(failure) from None
                    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError,
                            OSError):
                        session.wire.close()
                        if fresh:
                            raise DeliveryError(Failure(ErrorClass.NETWORK)) from None
            raise AssertionError("unreachable")

    @asynccontextmanager
    async def _session(self, fresh: bool) -> AsyncIterator[Session]:
        session = None
        while not fresh and self._idle:
            candidate = self._idle.pop()
            if candidate.wire.connected:
                session = candidate
                break
        if session is None:
            session = await open_connection(self._config, self._context)
        # Clean: the transaction ended, by the relay's 250 or by a refusal followed by RSET.
        # Anything else (a cancelled send, an unexpected error) leaves the session's state
        # unknown, and the next message must not inherit it: a relay answering its MAIL with
        # "503 bad sequence" would fail that message for good.
        clean = False
        try:
            yield session
            clean = True
        except DeliveryError:
            clean = True
            raise
        finally:
            if not clean:
                session.wire.close()
            elif session.wire.connected:
                self._idle.append(session)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for session in idle:
            try:
                await wire.command(session.wire, b"QUIT")
            except (aiosmtplib.SMTPException, OSError):
                pass  # closed below all the same
            session.wire.close()


def _mailbox(address: str) -> bytes:
    if not _MAILBOX.fullmatch(address):
        raise DeliveryError(Failure(ErrorClass.PERMANENT))
    return b"<" + address.encode("ascii") + b">"


async def _transaction(session: Session, envelope: Envelope, requiretls: str,
                       before_data: Awaitable[None] | None) -> None:
    """One recipient's transaction (``wire.transaction``). ``sendmail`` would parse each address
    four times (an eighth of the worker's time at volume) and scan the whole message once more
    for SIZE: our addresses are already checked plain ASCII ones (core/addresses.py), and the
    composer writes CRLF lines, so the message's length is its size."""
    options = b" SIZE=%d" % len(envelope.data) if session.size else b""
    # RFC 8689: asks every later hop to use verified TLS too, or to bounce rather than relay in
    # the clear. Offered only inside TLS, so the EHLO this reads was not forgeable.
    if session.requiretls:
        options += b" REQUIRETLS"
    elif requiretls == "required":
        raise DeliveryError(Failure(ErrorClass.REQUIRETLS_UNSUPPORTED))
    await wire.transaction(session.wire, b"FROM:" + _mailbox(envelope.sender) + options,
                           b"TO:" + _mailbox(envelope.recipient), envelope.data, before_data)


async def _reset(session: Session) -> None:
    try:
        await wire.command(session.wire, b"RSET")
    except (aiosmtplib.SMTPException, OSError):
        session.wire.close()
