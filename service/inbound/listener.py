"""``python -m service inbound``: an SMTP listener that takes reports for our return paths only.

It offers STARTTLS, accepts at most ``MAX_REPORT_BYTES`` and a few recipients, and refuses every
address that is not shaped like one of our return paths, so it relays nothing. A report is read
and applied before the 250, so a sender retries anything we could not store (451): while
PostgreSQL is down nothing is lost, and nothing a report says is half applied.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl

import asyncpg
from aiosmtpd.smtp import SMTP, Envelope, Session

from service.core.config import Settings
from service.db.pool import create_db_pool
from service.delivery import is_return_path_shape
from service.inbound import reports
from service.inbound.apply import apply

log = logging.getLogger(__name__)

MAX_REPORT_BYTES = 1024 * 1024
MAX_RECIPIENTS = 5
# Parsing runs in a thread, so one hostile report cannot stall the other sessions' event loop.
PARSE_SECONDS = 5.0
# The address to register with mailbox providers' feedback loops: their reports quote the
# original message, whose Return-Path names it.
FEEDBACK_LOCAL_PART = "complaints"


class ReportHandler:
    def __init__(self, db: asyncpg.Pool, settings: Settings) -> None:
        assert settings.bounce_domain
        self._db = db
        self._settings = settings
        self._domain = settings.bounce_domain

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        feedback = f"{FEEDBACK_LOCAL_PART}@{self._domain}"
        if not (is_return_path_shape(address, self._domain) or address.lower() == feedback):
            return "550 5.1.1 No such recipient here"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        try:
            try:
                report = await asyncio.wait_for(
                    asyncio.to_thread(reports.read, envelope.original_content or b""),
                    PARSE_SECONDS)
            except TimeoutError:
                report = reports.Report(reports.Kind.UNPARSED, reason="took too long to read")
            outcome = await apply(self._db, self._settings, list(envelope.rcpt_tos), report)
        except Exception as exc:
            # PostgreSQL away, or a fault of ours: the sender keeps the report and retries, and
            # the reply names no internals (aiosmtpd's own would print the exception).
            log.warning("report not stored (%s); asked the sender to retry", type(exc).__name__)
            return "451 4.3.0 Try again later"
        log.info("report: %s%s", outcome.outcome, f" ({outcome.reason})" if outcome.reason else "")
        return "250 OK"


async def start(db: asyncpg.Pool, settings: Settings, host: str, port: int,
                tls: ssl.SSLContext) -> asyncio.Server:
    handler = ReportHandler(db, settings)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(handler, hostname=settings.bounce_domain, tls_context=tls,
                     data_size_limit=MAX_REPORT_BYTES, ident="hipaa-mail inbound",
                     timeout=60),
        host, port,
    )


async def serve(settings: Settings, host: str, port: int, tls: ssl.SSLContext) -> None:
    db = await create_db_pool(settings, min_size=1, max_size=4)
    try:
        server = await start(db, settings, host, port, tls)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("inbound listening on %s:%d for @%s", host, port, settings.bounce_domain)
        async with server:
            await stop.wait()
    finally:
        await db.close()
