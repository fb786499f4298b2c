"""A local SMTP relay for development and tests that *requires* STARTTLS (aiosmtpd).

Delivered mail is written as ``.eml`` files into a mailbox folder a person can open. A recipient
whose local part starts with ``tempfail`` gets a 451 and one starting ``nosuchuser`` a 550 5.1.1,
so retry and bounce handling can be exercised for real. ``Mailbox(requiretls=True)`` makes it
offer REQUIRETLS (RFC 8689) inside TLS and accept the MAIL parameter; every MAIL's parameters are
kept in ``mail_params``.
"""

from __future__ import annotations

import ssl
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from service.devtools.certs import CertFiles


@dataclass
class Mailbox:
    directory: Path | None = None
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    tls_versions: list[str] = field(default_factory=list)
    # Client (host, port) pairs that delivered: one per SMTP connection used.
    sessions: set[tuple[str, int]] = field(default_factory=set)
    mail_from_seen: int = 0
    # When each message was accepted (monotonic seconds), for rate checks.
    accepted_at: list[float] = field(default_factory=list)
    # The SIZE each accepted message declared in its MAIL command (None: not declared).
    declared_sizes: list[int | None] = field(default_factory=list)
    # Offer REQUIRETLS after STARTTLS (off by default, as most relays do not).
    requiretls: bool = False
    # The parameters of every MAIL command, as aiosmtpd upper-cased them.
    mail_params: list[list[str]] = field(default_factory=list)

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname  # what aiosmtpd does itself when there is no hook
        if self.requiretls and _over_tls(server):
            responses.insert(-1, "250-REQUIRETLS")
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        mail_options: list[str],
    ) -> str:
        self.mail_from_seen += 1
        self.mail_params.append(list(mail_options))
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        rcpt_options: list[str],
    ) -> str:
        local = address.partition("@")[0].lower()
        if local.startswith("tempfail"):
            return "451 4.3.0 Try again later"
        if local.startswith("nosuchuser"):
            return "550 5.1.1 Mailbox does not exist"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        data = envelope.original_content or b""
        ssl_object = _over_tls(server)
        self.tls_versions.append(ssl_object.version() if ssl_object else "none")
        self.messages.append((str(envelope.mail_from), list(envelope.rcpt_tos), data))
        self.accepted_at.append(time.monotonic())
        sizes = [int(o[5:]) for o in envelope.mail_options if o.upper().startswith("SIZE=")]
        self.declared_sizes.append(sizes[0] if sizes else None)
        peer: tuple[str, int] = session.peer  # type: ignore[assignment]
        self.sessions.add((str(peer[0]), int(peer[1])))
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            (self.directory / f"{uuid.uuid4().hex}.eml").write_bytes(data)
        return "250 Message accepted for delivery"


def _over_tls(server: SMTP) -> Any:
    return server.transport.get_extra_info("ssl_object") if server.transport else None


class _RelaySMTP(SMTP):
    def _getparams(self, params: Sequence[str]) -> dict[str, str | bool] | None:
        result = super()._getparams(params)
        # aiosmtpd answers 555 to a MAIL parameter it does not know; REQUIRETLS is ours to
        # accept when offered (it has no value, and is only offered inside TLS).
        handler = self.event_handler
        if result is not None and isinstance(handler, Mailbox) and handler.requiretls:
            if _over_tls(self) is not None:
                result.pop("REQUIRETLS", None)
        return result


class _RelayController(Controller):
    def factory(self) -> SMTP:
        return _RelaySMTP(self.handler, **self.SMTP_kwargs)


def server_tls_context(certs: CertFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    return context


def start_relay(
    mailbox: Mailbox, host: str, port: int, certs: CertFiles | None, **smtp_options: Any
) -> Controller:
    """Starts the relay in a background thread. Without ``certs`` it offers no STARTTLS at all."""
    options: dict[str, Any] = {"decode_data": False, "enable_SMTPUTF8": True}
    if certs is not None:
        options.update(tls_context=server_tls_context(certs), require_starttls=True)
    options.update(smtp_options)
    controller = _RelayController(
        mailbox, hostname=host, port=port, ready_timeout=10, **options
    )
    controller.start()
    return controller
