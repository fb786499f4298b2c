"""What a report does to the data, once it is matched to a message we sent.

A report is unauthenticated mail, so it acts only when (1) it came to, or quotes, a return path
only we can make, (2) that message was really delivered, and (3) for a bounce, the recipient it
names is the message's own. Anything else is counted, with its reason, and changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from service import audit
from service.core.addresses import email_index
from service.core.config import Settings
from service.db.queries import QUERIES
from service.delivery import message_of
from service.inbound.reports import Kind, Report

# What became of a report; inbound_reports.outcome holds exactly these.
OUTCOMES = ("hard_bounce", "soft_bounce", "delayed", "complaint", "duplicate", "unmatched",
            "unparsed")


class RetryLater(Exception):
    """The report is for a message whose delivery is still being recorded: answer 4xx."""


@dataclass(frozen=True, slots=True)
class Outcome:
    outcome: str
    reason: str | None = None
    message_id: uuid.UUID | None = None


def match(settings: Settings, recipients: list[str], report: Report) -> uuid.UUID | None:
    """The message named by the envelope recipient, else by a return path quoted inside."""
    domain = settings.bounce_domain or ""
    for address in (*recipients, *report.return_paths):
        found = message_of(settings.keyring, domain, address)
        if found is not None:
            return found
    return None


async def apply(db: asyncpg.Pool, settings: Settings, recipients: list[str],
                report: Report) -> Outcome:
    outcome = await _decide(db, settings, recipients, report)
    await db.execute(QUERIES.insert_inbound_report, outcome.outcome, outcome.reason,
                     outcome.message_id)
    return outcome


async def _decide(db: asyncpg.Pool, settings: Settings, recipients: list[str],
                  report: Report) -> Outcome:
    if report.kind is Kind.UNPARSED:
        return Outcome("unparsed", report.reason)
    message_id = match(settings, recipients, report)
    if message_id is None:
        return Outcome("unmatched", "no return path of ours")
    row = await db.fetchrow(QUERIES.message_for_report, message_id)
    if row is None:
        return Outcome("unmatched", "no such message")
    if row["status"] in ("sending", "queued", "retrying"):
        # A relay can bounce within milliseconds, before the batch is marked sent.
        raise RetryLater(row["status"])
    if row["status"] not in ("sent", "bounced"):
        return Outcome("unmatched", f"message is {row['status']}", message_id)
    if report.kind is Kind.DELAYED:
        return Outcome("delayed", report.detail, message_id)
    if report.kind in (Kind.HARD_BOUNCE, Kind.SOFT_BOUNCE):
        named = report.final_recipient
        scope = bytes(row["index_scope"])
        if named is None or email_index(settings.keyring, named, scope) != row["recipient_index"]:
            return Outcome("unmatched", "recipient is not the message's", message_id)
        if report.kind is Kind.SOFT_BOUNCE:
            await db.execute(QUERIES.count_soft_bounce, message_id)
            return Outcome("soft_bounce", report.detail, message_id)
        return await _hard_bounce(db, row, report.detail or "5.0.0")
    return await _complaint(db, row, report.detail or "abuse")


async def _hard_bounce(db: asyncpg.Pool, row: asyncpg.Record, status: str) -> Outcome:
    async with db.acquire() as conn, conn.transaction():
        if await conn.fetchval(QUERIES.mark_bounced, row["id"], f"bounced:{status}") is None:
            return Outcome("duplicate", "already bounced", row["id"])
        await audit.record(conn, actor="remote-mta", action="message.bounce",
                           object_type="message", object_id=str(row["id"]),
                           outcome="hard_bounce", detail=status)
        # Only a mailbox that does not exist (5.1.x, as on the synchronous path) stops all mail
        # to the address; a policy refusal (5.7.x, e.g. 5.7.30 REQUIRETLS) or a full mailbox
        # says nothing about next week's reminder.
        if status.startswith("5.1."):
            await _suppress(conn, row["recipient_index"], "hard_bounce", status)
    return Outcome("hard_bounce", status, row["id"])


async def _complaint(db: asyncpg.Pool, row: asyncpg.Record, feedback_type: str) -> Outcome:
    async with db.acquire() as conn, conn.transaction():
        if await conn.fetchval(QUERIES.mark_complained, row["id"]) is None:
            return Outcome("duplicate", "already complained", row["id"])
        await audit.record(conn, actor="mailbox-provider", action="message.complaint",
                           object_type="message", object_id=str(row["id"]),
                           outcome="complaint", detail=feedback_type)
        await _suppress(conn, row["recipient_index"], "complaint", feedback_type)
        contact = await conn.fetchval(QUERIES.contact_by_index, row["recipient_index"])
        if contact is not None:
            await conn.execute(QUERIES.insert_consent_event, contact, "marketing", "revoke",
                               "complaint", "mailbox-provider", None)
            await audit.record(conn, actor="mailbox-provider", action="consent.revoke",
                               object_type="contact", object_id=str(contact),
                               outcome="complaint", detail=feedback_type)
    return Outcome("complaint", feedback_type, row["id"])


async def _suppress(conn: asyncpg.Connection, index: bytes, reason: str, detail: str) -> None:
    if await conn.fetchval(QUERIES.insert_suppression, index, reason, detail) is not None:
        await audit.record(conn, actor="remote-mta", action="suppression.add",
                           object_type="recipient", object_id=index.hex(), outcome=reason,
                           detail=detail)
