"""Recording deliveries a group at a time (``delivery/recorder.py``): the pooled SMTP sessions'
sent marks share commits, and neither a refusal nor a consent withdrawn in the claimed batch
holds the others back or slips past the check. Real arq, PostgreSQL and STARTTLS relay.

A sent mark's ``sent_at`` is its commit's transaction time, so the distinct ``sent_at`` values
of a run are the commits that marked its sends."""

from __future__ import annotations

from dataclasses import replace

import asyncpg
import httpx
from starlette.applications import Starlette

from service.core.addresses import email_index
from service.core.config import Settings
from service.db.queries import QUERIES
from service.devtools.relay import Mailbox
from tests.conftest import run_worker
from tests.helpers import REMINDER, send

MESSAGES = 40
SESSIONS = 4


async def _send_all(client: httpx.AsyncClient, key: str, recipients: list[str]) -> list[str]:
    return [(await send(client, key, {**REMINDER, "to": to})).json()["id"] for to in recipients]


async def _commits_and_statuses(db: asyncpg.Pool) -> tuple[int, dict[str, str]]:
    commits = await db.fetchval(
        "SELECT count(DISTINCT sent_at) FROM messages WHERE status = 'sent'")
    rows = await db.fetch("SELECT id, status FROM messages")
    return commits, {str(row["id"]): row["status"] for row in rows}


async def test_the_sessions_sent_marks_share_commits(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    app: Starlette,
) -> None:
    ids = await _send_all(client, keys["sender"],
                          [f"p{n}@example.org" for n in range(MESSAGES)])
    await run_worker(replace(settings, smtp_pool_size=SESSIONS))
    commits, statuses = await _commits_and_statuses(app.state.resources.db)
    assert set(statuses.values()) == {"sent"} and len(statuses) == len(ids)
    assert len(mailbox.messages) == MESSAGES
    # Ungrouped, 20 to 27 of these 40 sends had a commit of their own; grouped, a commit
    # carries about one of each session's (10 to 15).
    assert commits <= MESSAGES * 0.45, commits
    # Each delivery still gets its own audit record and event.
    db = app.state.resources.db
    assert await db.fetchval("SELECT count(*) FROM audit_log"
                             " WHERE action = 'message.deliver'") == MESSAGES
    assert await db.fetchval("SELECT count(*) FROM message_events"
                             " WHERE status = 'sent'") == MESSAGES


async def test_a_refused_recipient_in_the_batch_fails_alone(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    app: Starlette,
) -> None:
    recipients = [f"p{n}@example.org" for n in range(MESSAGES)]
    recipients[7] = "nosuchuser@example.org"  # the relay answers its RCPT with 550 5.1.1
    recipients[21] = "tempfail@example.org"  # and this one's with a 4xx
    ids = await _send_all(client, keys["sender"], recipients)
    await run_worker(replace(settings, smtp_pool_size=SESSIONS))
    _, statuses = await _commits_and_statuses(app.state.resources.db)
    assert statuses.pop(ids[7]) == "failed"
    assert statuses.pop(ids[21]) == "retrying"
    assert set(statuses.values()) == {"sent"}
    assert sorted(rcpts[0] for _, rcpts, _ in mailbox.messages) == sorted(
        to for to in recipients if to not in ("nosuchuser@example.org", "tempfail@example.org"))


async def test_consent_withdrawn_after_acceptance_rejects_only_that_message(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    app: Starlette,
) -> None:
    recipients = [f"p{n}@example.org" for n in range(MESSAGES)]
    ids = await _send_all(client, keys["sender"], recipients)
    db = app.state.resources.db
    # Accepted, then the patient stops everything (a suppression), before any worker ran.
    index = email_index(settings.keyring, recipients[13], b"")  # the default organization's
    assert await db.fetchval(QUERIES.insert_suppression, index, "complaint", None) == index
    await run_worker(replace(settings, smtp_pool_size=SESSIONS))
    _, statuses = await _commits_and_statuses(db)
    assert statuses.pop(ids[13]) == "rejected"
    assert set(statuses.values()) == {"sent"}
    assert recipients[13] not in {rcpts[0] for _, rcpts, _ in mailbox.messages}
    assert len(mailbox.messages) == MESSAGES - 1
