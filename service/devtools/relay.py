"""A local SMTP relay for development and tests that *requires* STARTTLS (aiosmtpd).

Delivered mail is written as ``.eml`` files into a mailbox folder a person can open. A recipient
whose local part starts with ``tempfail`` gets a 451 and one starting ``nosuchuser`` a 550 5.1.1,
so retry and bounce handling can be exercised for real.
"""

from __future__ import annotations

import ssl
import time
import uuid
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

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        mail_options: list[str],
    ) -> str:
        self.mail_from_seen += 1
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
        ssl_object = server.transport.get_extra_info("ssl_object") if server.transport else None
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
    controller = Controller(mailbox, hostname=host, port=port, ready_timeout=10, **options)
    controller.start()
    return controller
