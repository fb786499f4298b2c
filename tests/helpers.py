"""Small shared test helpers."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import asyncpg
import httpx

REMINDER: dict[str, Any] = {
    "to": "pat.jones@example.org",
    "purpose": "treatment",
    "subject": "Upcoming Appointment Reminder",
    "content": "Cardiology follow-up with Dr. Rivera on Tuesday at 10:30.",
}

PORTAL_LINK = re.compile(r"https://portal\.clinic\.test/p/([A-Za-z0-9_-]{43})")


async def api_key_id(db: asyncpg.Pool, name: str = "test sender") -> uuid.UUID:
    """The id of the API key the ``keys`` fixture made under ``name``."""
    key_id: uuid.UUID = await db.fetchval("SELECT id FROM api_keys WHERE name = $1", name)
    return key_id


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def send(client: httpx.AsyncClient, key: str, body: dict[str, Any] | None = None,
               **headers: str) -> httpx.Response:
    return await client.post(
        "/v1/messages", json=body if body is not None else REMINDER,
        headers={**auth(key), **headers},
    )


def parse_mail(data: bytes) -> EmailMessage:
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def mail_text(mail: EmailMessage) -> str:
    return "\n".join(
        part.get_content() for part in mail.walk() if part.get_content_maintype() == "text"
    )


def portal_token(data: bytes) -> str:
    found = PORTAL_LINK.findall(mail_text(parse_mail(data)))
    assert found, "no portal link in the email"
    assert len(set(found)) == 1
    return str(found[0])


async def plan_without_seqscans(db: asyncpg.Pool, query: str, *args: Any) -> dict[str, Any]:
    """The plan of ``query`` with sequential scans priced out, so that a query that must read a
    whole table shows which index it reads it through."""
    async with db.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        (plan,) = json.loads(await conn.fetchval("EXPLAIN (FORMAT JSON) " + query, *args))
    found: dict[str, Any] = plan["Plan"]
    return found


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of an ``EXPLAIN (FORMAT JSON)`` plan, depth first."""
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)
