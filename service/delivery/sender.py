"""Sending one claimed message: open its address and link, render the generic email, hand it to
the relay over TLS, and record a refusal or a failure. Recording a success is the recorder's job
(``recorder.py``), one statement for what every session finished meanwhile."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field, replace

import asyncpg
from arq.connections import ArqRedis

from service import audit, consent
from service.core import paths
from service.core.config import Settings
from service.core.crypto import campaign_token
from service.db.outage import persist
from service.db.queries import QUERIES
from service.delivery.campaign_look import NO_CAMPAIGN, CampaignLook
from service.delivery.compose import Composer, Envelope
from service.delivery.dkim import DkimSigner
from service.delivery.relay_rate import RelayRate
from service.delivery.retry import ErrorClass, next_step
from service.delivery.return_path import return_path
from service.delivery.smtp import DeliveryError, RelayConfig, SmtpPool, TransportEvidence
from service.messages import SubjectRecheck

log = logging.getLogger(__name__)

# A claimed batch: each row with its consent verdict, checked right before sending.
Claimed = list[tuple[asyncpg.Record, consent.Decision]]


def relay_config(settings: Settings) -> RelayConfig:
    return RelayConfig(
        host=settings.smtp_host, port=settings.smtp_port, tls=settings.smtp_tls,
        ca_file=settings.smtp_ca_file, username=settings.smtp_username,
        password=settings.smtp_password, timeout=settings.smtp_timeout,
        pool_size=settings.smtp_pool_size, requiretls=settings.smtp_requiretls,
    )


def composer_for(settings: Settings) -> Composer:
    """The renderer of the service's sender identity: the worker's, and the staff preview's."""
    return Composer(settings.mail_from, settings.clinic)


def render_email(
    composer: Composer, base_url: str, *, recipient: str, subject: str, kind: str,
    teaser: str | None, tracked: tuple[list[str], str | None], token: str,
    unsubscribe: str | None, message_id: str | None = None,
) -> Envelope:
    """One message's email from its tokens (portal or confirmation, and unsubscribe when it is
    marketing) and its campaign's ``tracked`` links and pixel: what the worker sends, and what
    the staff preview shows with placeholder tokens."""
    headers = None
    if unsubscribe is not None:
        # RFC 8058 one-click: mail providers POST "List-Unsubscribe=One-Click" to this URL.
        headers = {
            "List-Unsubscribe": f"<{paths.link(base_url, paths.UNSUBSCRIBE, unsubscribe)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
    link_path = paths.CONFIRM if kind == "confirmation" else paths.PORTAL
    links, pixel = tracked
    return composer.render(
        recipient=recipient, subject=subject, kind=kind, teaser=teaser,
        link_url=paths.link(base_url, link_path, token), extra_headers=headers,
        links=links, pixel_url=pixel, message_id=message_id,
    )


@dataclass
class Sender:
    """One per worker process: its SMTP sessions, its renderer, the shared relay rate, and the
    campaigns' looks it has read (a campaign's email never changes once created)."""

    settings: Settings
    db: asyncpg.Pool
    smtp: SmtpPool
    composer: Composer
    relay_rate: RelayRate | None
    subjects: SubjectRecheck
    looks: dict[uuid.UUID, CampaignLook] = field(default_factory=dict)
    # DKIM keys, parsed once here; None when DKIM_DOMAIN is unset.
    dkim: DkimSigner | None = None

    @classmethod
    def open(cls, settings: Settings, db: asyncpg.Pool, redis: ArqRedis) -> Sender:
        relay_rate = None
        if settings.smtp_max_rate:
            relay_rate = RelayRate(
                redis, f"{settings.smtp_host}:{settings.smtp_port}", settings.smtp_max_rate
            )
        return cls(settings, db, SmtpPool(relay_config(settings)), composer_for(settings),
                   relay_rate, SubjectRecheck(settings), dkim=DkimSigner.from_settings(settings))

    async def close(self) -> None:
        await self.smtp.close()

    async def reject(self, row: asyncpg.Record, verdict: consent.Decision) -> None:
        assert verdict.refusal is not None
        await self.refuse(row, f"consent:{verdict.refusal.value}", verdict.refusal.value)

    async def refuse(self, row: asyncpg.Record, reason: str, outcome: str) -> None:
        """Ends a claimed message unsent: ``reason`` becomes its last error class, ``outcome``
        its audit record's."""
        async def write() -> None:
            async with self.db.acquire() as conn, conn.transaction():
                await conn.execute(QUERIES.mark_rejected, row["id"], reason)
                await audit.record(
                    conn, actor="worker", action="message.reject", object_type="message",
                    object_id=str(row["id"]), outcome=outcome, detail=row["purpose"],
                )

        await persist(write, "recording a refusal")
        log.info("message %s rejected before sending: %s", row["id"], reason)

    async def compose(self, row: asyncpg.Record) -> Envelope | None:
        """The email for one claimed message, signed; None when it can no longer go (its
        campaign was closed), and that is recorded."""
        settings = self.settings
        mid: uuid.UUID = row["id"]
        aad = mid.bytes
        keyring = settings.keyring
        campaign_id: uuid.UUID | None = row["campaign_id"]
        look = await self._campaign_look(campaign_id) if campaign_id else NO_CAMPAIGN
        unsubscribe = None
        if campaign_id is None:
            recipient = keyring.open(row["recipient_sealed"], aad + b"recipient").decode()
            token = keyring.open(row["token_sealed"], aad + b"token").decode()
            if row["unsubscribe_sealed"] is not None:
                unsubscribe = keyring.open(
                    row["unsubscribe_sealed"], aad + b"unsubscribe"
                ).decode()
        elif look.link_key is None:
            await persist(lambda: self.db.execute(QUERIES.mark_rejected, mid, "campaign_closed"),
                          "recording a closed campaign's message")
            return None
        else:
            recipient = keyring.open(
                row["recipient_sealed"], campaign_id.bytes + row["recipient_index"]
            ).decode()
            token = campaign_token(look.link_key, b"portal", mid.bytes)
            unsubscribe = campaign_token(look.link_key, b"unsubscribe", mid.bytes)
        base = settings.public_base_url
        envelope = render_email(
            self.composer, base, recipient=recipient, subject=row["subject"], kind=row["kind"],
            teaser=look.teaser, tracked=look.tracked_links(base, keyring, campaign_id),
            token=token, unsubscribe=unsubscribe, message_id=self.message_id(mid),
        )
        if settings.bounce_domain:
            # Bounces come back to an address naming this message, for `inbound` to read.
            envelope = replace(envelope, sender=return_path(keyring, settings.bounce_domain, mid))
        if self.dkim is not None:
            envelope = self.dkim.sign(envelope)
        return envelope

    def message_id(self, mid: uuid.UUID) -> str:
        """The Message-ID's left part: the same for every send of one message, so a receiving
        system can fold a re-send after a crash into the first; keyed, so it does not show the
        message's id (the index key, which no rotation changes)."""
        return self.settings.keyring.mac(b"message-id", mid.bytes)[:16].hex()

    async def transmit(self, row: asyncpg.Record, envelope: Envelope,
                       before_data: Awaitable[None] | None = None) -> TransportEvidence | None:
        """Hands the email to the relay at the relay's rate; the session's evidence when the
        relay took it, else None and the failure is recorded. ``before_data``: see
        ``SmtpPool.send``."""
        if self.relay_rate is not None:
            await self.relay_rate.wait_turn()
        try:
            return await self.smtp.send(envelope, before_data)
        except DeliveryError as exc:
            await self._record_failure(row, exc)
            return None

    async def _campaign_look(self, campaign_id: uuid.UUID) -> CampaignLook:
        if campaign_id not in self.looks:
            row = await persist(lambda: self.db.fetchrow(QUERIES.campaign_look, campaign_id),
                                "reading a campaign")
            sealed_key = row["link_key_sealed"]
            link_key = None if sealed_key is None else self.settings.keyring.open(
                sealed_key, campaign_id.bytes + b"link-key"
            )
            self.looks[campaign_id] = CampaignLook.of(row, link_key)
        return self.looks[campaign_id]

    async def _record_failure(self, row: asyncpg.Record, exc: DeliveryError) -> None:
        mid = row["id"]
        step = next_step(exc.failure, row["attempts"], row["seconds_until_give_up"])
        error_class = exc.failure.error_class.value
        if step.retry:
            await persist(lambda: self.db.execute(QUERIES.mark_retrying, mid, step.delay_seconds,
                                                  error_class), "recording a retry")
            log.info("message %s retrying in %.0fs: %s", mid, step.delay_seconds, error_class)
            return
        if exc.failure.error_class not in (ErrorClass.PERMANENT, ErrorClass.MAILBOX_UNKNOWN):
            error_class = f"{error_class}+{ErrorClass.GAVE_UP.value}"
        await persist(lambda: self._record_failed(row, exc, error_class), "recording a failure")
        log.info("message %s failed: %s", mid, error_class)

    async def _record_failed(self, row: asyncpg.Record, exc: DeliveryError,
                             error_class: str) -> None:
        async with self.db.acquire() as conn, conn.transaction():
            await conn.execute(QUERIES.mark_failed, row["id"], error_class)
            if exc.failure.error_class is ErrorClass.MAILBOX_UNKNOWN:
                # A hard bounce (5.1.x): the address gets nothing more, for any purpose.
                added = await conn.fetchval(
                    QUERIES.insert_suppression, row["recipient_index"], "hard_bounce",
                    exc.failure.enhanced,
                )
                if added is not None:
                    await audit.record(
                        conn, actor="relay", action="suppression.add",
                        object_type="recipient", object_id=row["recipient_index"].hex(),
                        outcome="hard_bounce", detail=exc.failure.enhanced,
                    )
