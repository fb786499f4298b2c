"""After a lost worker: what may have reached the relay goes out again under the same Message-ID
and is counted, what never left is sent once and not counted, and a recording that arrives late
still saves the re-send. Real PostgreSQL, arq and STARTTLS relay; the lost worker is the rows'
state it leaves behind (tests/faults kills real worker processes)."""

from __future__ import annotations

import uuid

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette

from service.core.config import Settings
from service.db.queries import QUERIES
from service.delivery.recorder import Recorder
from service.delivery.smtp import TransportEvidence
from service.devtools.relay import Mailbox
from tests.conftest import empty_redis, run_worker
from tests.helpers import auth, parse_mail, send

LOST = "UPDATE messages SET status = 'sending', lease_until = now() - interval '1 s' WHERE id = $1"
ON_WIRE = "INSERT INTO wire_sessions (id, message_id) VALUES (gen_random_uuid(), $1)"


async def possible_duplicates(client: httpx.AsyncClient, admin_key: str) -> float:
    response = await client.get("/metrics", headers=auth(admin_key))
    assert response.status_code == 200
    for line in response.text.splitlines():
        if line.startswith("hipaa_mail_possible_duplicates_total "):
            return float(line.split()[1])
    raise AssertionError("no hipaa_mail_possible_duplicates_total in /metrics")


@pytest.mark.parametrize(("on_wire", "counted"), [(True, 1), (False, 0)])
async def test_a_message_whose_worker_was_lost_goes_out_again_with_the_same_message_id(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    app: Starlette, redis_client: aioredis.Redis, on_wire: bool, counted: int,
) -> None:
    message_id = (await send(client, keys["sender"])).json()["id"]
    db = app.state.resources.db
    token = await db.fetchval("SELECT token_sealed FROM messages WHERE id = $1",
                              uuid.UUID(message_id))
    await run_worker(settings)
    # The worker that sent it died before recording it: 'sending' with its link token still
    # kept, lease lapsed, and stamped on the wire (the relay may have it) or not (it never left).
    await db.execute("UPDATE messages SET token_sealed = $2 WHERE id = $1",
                     uuid.UUID(message_id), token)
    await db.execute(LOST, uuid.UUID(message_id))
    if on_wire:
        await db.execute(ON_WIRE, uuid.UUID(message_id))
    await empty_redis(redis_client)
    await run_worker(settings)

    assert len(mailbox.messages) == 2
    first, again = (parse_mail(data)["Message-ID"] for _, _, data in mailbox.messages)
    assert first == again
    assert message_id.replace("-", "") not in first  # keyed: the id itself is not shown
    assert await possible_duplicates(client, keys["admin"]) == counted
    status = (await client.get(f"/v1/messages/{message_id}",
                               headers=auth(keys["sender"]))).json()
    assert status["status"] == "sent"


async def test_different_messages_have_different_message_ids(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
) -> None:
    for n in range(3):
        await send(client, keys["sender"], {"to": f"p{n}@example.org", "purpose": "treatment",
                                             "subject": "Upcoming Appointment Reminder",
                                             "content": "See you soon."})
    await run_worker(settings)
    ids = {parse_mail(data)["Message-ID"] for _, _, data in mailbox.messages}
    assert len(ids) == 3


async def test_a_recording_that_arrives_after_the_sweep_reclaimed_the_row_saves_the_re_send(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    app: Starlette, redis_client: aioredis.Redis,
) -> None:
    message_id = uuid.UUID((await send(client, keys["sender"])).json()["id"])
    db = app.state.resources.db
    # A worker put it on the wire, then lost the database for longer than its lease; the sweep
    # made the row due again before that worker's recording got through.
    await db.execute(LOST, message_id)
    await db.execute(ON_WIRE, message_id)
    assert await db.fetchval(QUERIES.reclaim_lost_sends) == 1
    evidence = TransportEvidence("TLSv1.3", "TLS_AES_256_GCM_SHA384", "ab" * 32, "localhost")
    recorder = Recorder(db)
    async with recorder.running():
        await recorder.report(uuid.uuid4(), (message_id, evidence), None)
    assert recorder.recorded == 1

    await empty_redis(redis_client)
    await run_worker(settings)
    assert mailbox.messages == []
    status = (await client.get(f"/v1/messages/{message_id}",
                               headers=auth(keys["sender"]))).json()
    assert (status["status"], status["transport"]["tls_version"]) == ("sent", "TLSv1.3")
