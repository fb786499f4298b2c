"""The worker end to end: real arq, real PostgreSQL, real STARTTLS relay."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import httpx
import redis.asyncio as aioredis
from starlette.applications import Starlette

from service.core.config import Settings
from service.devtools.certs import CertFiles
from service.devtools.relay import Mailbox, start_relay
from tests.conftest import empty_redis, free_port, run_worker
from tests.helpers import REMINDER, auth, mail_text, parse_mail, portal_token, send


async def status_of(client: httpx.AsyncClient, key: str, message_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/messages/{message_id}", headers=auth(key))
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


async def test_reminder_is_delivered_over_tls_with_generic_content_only(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox
) -> None:
    message_id = (await send(client, keys["sender"])).json()["id"]
    await run_worker(settings)

    assert len(mailbox.messages) == 1
    sender, recipients, data = mailbox.messages[0]
    assert sender == "no-reply@clinic.test"
    assert recipients == ["pat.jones@example.org"]
    assert mailbox.tls_versions == ["TLSv1.3"] or mailbox.tls_versions == ["TLSv1.2"]
    mail = parse_mail(data)
    assert mail["Subject"] == "Upcoming Appointment Reminder"
    assert mail["From"] == "Riverside Clinic <no-reply@clinic.test>"
    assert mail["To"] == "pat.jones@example.org"
    assert mail["Message-ID"].endswith("@clinic.test>")
    assert mail["Date"]
    parts = {part.get_content_type() for part in mail.walk()}
    assert {"text/plain", "text/html"} <= parts
    text = mail_text(mail)
    assert "secure message" in text
    for phi in ("Cardiology", "Rivera", "10:30", "Tuesday"):
        assert phi not in data.decode(errors="replace")
    status = await status_of(client, keys["sender"], message_id)
    assert status["status"] == "sent"
    assert status["attempts"] == 1
    assert status["sent_at"] is not None

    token = portal_token(data)
    page = await client.post(f"/p/{token}")
    assert page.status_code == 200
    assert "Cardiology follow-up with Dr. Rivera" in page.text


async def test_connections_are_reused_across_messages(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> None:
    for n in range(6):
        await send(client, keys["sender"], {**REMINDER, "to": f"p{n}@example.org"})
    settings = replace(settings, smtp_pool_size=2)
    await run_worker(settings)
    assert len(mailbox.messages) == 6
    assert len(mailbox.sessions) <= 2


async def test_a_refused_recipient_leaves_the_session_clean_for_the_next_message(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> None:
    """One TLS session in turn for a refused, a good, a deferred and a good recipient: each
    envelope carries only its own recipient and declares the size that arrives."""
    ids = {}
    for to in ("nosuchuser@example.org", "ok1@example.org", "tempfail@example.org",
               "ok2@example.org"):
        ids[to] = (await send(client, keys["sender"], {**REMINDER, "to": to})).json()["id"]
    await run_worker(replace(settings, smtp_pool_size=1))
    assert sorted((sender, tuple(rcpts)) for sender, rcpts, _ in mailbox.messages) == [
        ("no-reply@clinic.test", ("ok1@example.org",)),
        ("no-reply@clinic.test", ("ok2@example.org",))]
    assert mailbox.declared_sizes == [len(data) for _, _, data in mailbox.messages]
    assert len(mailbox.sessions) == 1
    states = {to: (await status_of(client, keys["sender"], mid))["status"]
              for to, mid in ids.items()}
    assert states == {"nosuchuser@example.org": "failed", "ok1@example.org": "sent",
                      "tempfail@example.org": "retrying", "ok2@example.org": "sent"}


async def test_relay_without_starttls_gets_nothing(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
) -> None:
    plain_box = Mailbox()
    port = free_port()
    controller = start_relay(plain_box, "127.0.0.1", port, certs=None)
    try:
        message_id = (await send(client, keys["sender"])).json()["id"]
        await run_worker(replace(settings, smtp_port=port))
    finally:
        controller.stop()
    assert plain_box.messages == []
    assert plain_box.mail_from_seen == 0
    status = await status_of(client, keys["sender"], message_id)
    assert status["status"] == "retrying"
    assert status["last_error_class"] == "tls_unavailable"


async def test_untrusted_certificate_gets_nothing(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, rogue_pki: CertFiles,
) -> None:
    rogue_box = Mailbox()
    port = free_port()
    controller = start_relay(rogue_box, "127.0.0.1", port, rogue_pki)
    try:
        message_id = (await send(client, keys["sender"])).json()["id"]
        await run_worker(replace(settings, smtp_port=port))
    finally:
        controller.stop()
    assert rogue_box.messages == []
    assert rogue_box.mail_from_seen == 0
    status = await status_of(client, keys["sender"], message_id)
    assert status["status"] == "retrying"
    assert status["last_error_class"] == "tls_certificate"


async def test_certificate_for_another_host_gets_nothing(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, tmp_path: Any,
) -> None:
    from service.devtools.certs import make_test_pki

    wrong_host = make_test_pki(tmp_path / "pki", hosts=("mail.elsewhere.test",))
    box = Mailbox()
    port = free_port()
    controller = start_relay(box, "127.0.0.1", port, wrong_host)
    try:
        message_id = (await send(client, keys["sender"])).json()["id"]
        await run_worker(replace(settings, smtp_port=port, smtp_ca_file=str(wrong_host.ca_cert)))
    finally:
        controller.stop()
    assert box.messages == []
    status = await status_of(client, keys["sender"], message_id)
    assert (status["status"], status["last_error_class"]) == ("retrying", "tls_certificate")


async def test_temporary_failure_is_retried_later(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, app: Starlette,
) -> None:
    body = {**REMINDER, "to": "tempfail@example.org"}
    message_id = (await send(client, keys["sender"], body)).json()["id"]
    await run_worker(settings)
    status = await status_of(client, keys["sender"], message_id)
    assert (status["status"], status["last_error_class"]) == ("retrying", "smtp_temporary")
    wait = await app.state.resources.db.fetchval(
        "SELECT extract(epoch FROM next_attempt_at - now()) FROM messages WHERE id = $1",
        __import__("uuid").UUID(message_id),
    )
    assert 10 < wait <= 30


async def test_retry_happens_when_due_and_then_delivers(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    app: Starlette, pki: CertFiles,
) -> None:
    db = app.state.resources.db
    plain_port = free_port()
    controller = start_relay(Mailbox(), "127.0.0.1", plain_port, certs=None)
    try:
        message_id = (await send(client, keys["sender"])).json()["id"]
        await run_worker(replace(settings, smtp_port=plain_port))
    finally:
        controller.stop()
    # The relay is fixed and the backoff has passed: the sweep picks the message up.
    await db.execute("UPDATE messages SET next_attempt_at = now()")
    await run_worker(settings)
    status = await status_of(client, keys["sender"], message_id)
    assert (status["status"], status["attempts"]) == ("sent", 2)
    assert len(mailbox.messages) == 1
    events = await db.fetch("SELECT status, error_class FROM message_events ORDER BY id")
    assert [(e["status"], e["error_class"]) for e in events] == [
        ("queued", None), ("retrying", "tls_unavailable"), ("sent", None),
    ]


async def test_permanent_failure_is_not_retried(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> None:
    body = {**REMINDER, "to": "nosuchuser@example.org"}
    message_id = (await send(client, keys["sender"], body)).json()["id"]
    await run_worker(settings)
    status = await status_of(client, keys["sender"], message_id)
    assert (status["status"], status["last_error_class"]) == ("failed", "mailbox_unknown")
    assert mailbox.messages == []


async def test_gives_up_after_the_configured_time(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, app: Starlette,
) -> None:
    body = {**REMINDER, "to": "tempfail@example.org"}
    message_id = (await send(client, keys["sender"], body)).json()["id"]
    await app.state.resources.db.execute("UPDATE messages SET give_up_at = now() + interval '5 s'")
    await run_worker(settings)
    status = await status_of(client, keys["sender"], message_id)
    assert (status["status"], status["last_error_class"]) == ("failed", "smtp_temporary+gave_up")


async def test_nothing_is_lost_when_redis_loses_the_queue(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    redis_client: aioredis.Redis,
) -> None:
    message_id = (await send(client, keys["sender"])).json()["id"]
    await empty_redis(redis_client)
    await run_worker(settings)
    assert len(mailbox.messages) == 1
    assert (await status_of(client, keys["sender"], message_id))["status"] == "sent"


async def test_a_send_abandoned_by_a_dead_worker_is_resumed(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    app: Starlette, redis_client: aioredis.Redis,
) -> None:
    message_id = (await send(client, keys["sender"])).json()["id"]
    # A worker claimed the message and died: the row is 'sending' with a lapsed lease.
    await app.state.resources.db.execute(
        "UPDATE messages SET status = 'sending', attempts = 1, lease_until = now() - interval '1 s'"
    )
    await empty_redis(redis_client)
    await run_worker(settings)
    assert len(mailbox.messages) == 1
    status = await status_of(client, keys["sender"], message_id)
    assert (status["status"], status["attempts"]) == ("sent", 2)
    events = await app.state.resources.db.fetch(
        "SELECT status, error_class FROM message_events ORDER BY id"
    )
    assert [(e["status"], e["error_class"]) for e in events] == [
        ("queued", None), ("retrying", "worker_lost"), ("sent", None),
    ]


async def test_workers_side_by_side_send_each_message_once(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> None:
    import asyncio

    for n in range(150):
        await send(client, keys["sender"], {**REMINDER, "to": f"p{n}@example.org"})
    await asyncio.gather(*(run_worker(settings) for _ in range(3)))
    recipients = [r for _, rcpts, _ in mailbox.messages for r in rcpts]
    assert len(recipients) == 150
    assert len(set(recipients)) == 150


async def test_duplicate_jobs_deliver_once(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    app: Starlette,
) -> None:
    from service.db.queue import enqueue_deliver_due

    message_id = (await send(client, keys["sender"])).json()["id"]
    redis = app.state.resources.redis
    for n in range(5):
        await enqueue_deliver_due(redis, settings.queue_name, f"dup-{n}")
    await run_worker(settings)
    assert len(mailbox.messages) == 1
    assert (await status_of(client, keys["sender"], message_id))["attempts"] == 1


async def test_a_relay_rate_spaces_sends_across_workers_and_without_it_they_burst(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> None:
    for n in range(30):
        await send(client, keys["sender"], {**REMINDER, "to": f"burst{n}@example.org"})
    await run_worker(settings)
    unlimited = mailbox.accepted_at[-1] - mailbox.accepted_at[0]
    assert len(mailbox.messages) == 30
    mailbox.messages.clear()
    mailbox.accepted_at.clear()

    for n in range(30):
        await send(client, keys["sender"], {**REMINDER, "to": f"paced{n}@example.org"})
    limited = replace(settings, smtp_max_rate=20)
    # Two workers side by side share one schedule through Redis.
    await asyncio.gather(run_worker(limited), run_worker(limited))
    assert len(mailbox.messages) == 30
    times = sorted(mailbox.accepted_at)
    assert times[-1] - times[0] >= 29 / 20 * 0.9
    assert unlimited < 29 / 20 * 0.9  # the spacing comes from the limit, not the machine
    # No send precedes its slot and slots are 50 ms apart, so a second at the relay holds at most
    # 21 slots' worth, plus what a late send (up to 250 ms on a busy machine) bunches into it.
    for start in times:
        assert sum(1 for t in times if start <= t < start + 1.0) <= 26


async def test_content_lines_that_start_with_a_dot_arrive_whole(
    relay: int, mailbox: Mailbox, pki: CertFiles,
) -> None:
    """The worker writes DATA's content itself (to overlap its record with DATA's reply), so it
    dot-stuffs as SMTP.data() would: a line of one dot must not end the message early."""
    from service.delivery.compose import Envelope
    from service.delivery.smtp import RelayConfig, SmtpPool

    data = (b"From: a@clinic.test\r\nTo: b@example.org\r\nSubject: s\r\n\r\n"
            b".leading dot\r\n.\r\nafter a lone dot\r\n..two\r\n")
    pool = SmtpPool(RelayConfig("127.0.0.1", relay, "starttls", ca_file=str(pki.ca_cert)))
    try:
        await pool.send(Envelope("a@clinic.test", "b@example.org", data))
    finally:
        await pool.close()
    assert mailbox.messages[0][2].replace(b"\r\n", b"\n") == data.replace(b"\r\n", b"\n")
