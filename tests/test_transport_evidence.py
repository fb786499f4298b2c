"""Transport evidence (HIPAA 164.312(e)): each delivered message records how it was protected, in
its row, in its status and in the audit log, written together with the sent mark."""

from __future__ import annotations

import hashlib
import ssl
import uuid
from dataclasses import replace
from typing import Any

import httpx
import yaml
from jsonschema import Draft202012Validator
from starlette.applications import Starlette

from service import audit
from service.core.config import Settings
from service.db.queries import QUERIES
from service.devtools.certs import CertFiles
from service.devtools.relay import Mailbox
from service.shipped import openapi_document
from tests.conftest import run_worker
from tests.helpers import REMINDER, auth, send


def fingerprint(certs: CertFiles) -> str:
    der = ssl.PEM_cert_to_DER_cert(certs.server_cert.read_text())
    return hashlib.sha256(der).hexdigest()


async def status_of(client: httpx.AsyncClient, key: str, message_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/messages/{message_id}", headers=auth(key))
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    schema = yaml.safe_load(openapi_document())["components"]["schemas"]["MessageStatus"]
    Draft202012Validator(schema).validate(body)  # the documented shape, null or not
    return body


async def test_a_delivery_records_its_tls_evidence_in_the_status_row_and_audit_log(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    app: Starlette, pki: CertFiles,
) -> None:
    ids = [(await send(client, keys["sender"], {**REMINDER, "to": f"p{n}@example.org"}))
           .json()["id"] for n in range(5)]
    assert (await status_of(client, keys["sender"], ids[0]))["transport"] is None
    await run_worker(replace(settings, smtp_pool_size=2))
    assert len(mailbox.messages) == 5

    expected_sha = fingerprint(pki)
    for message_id in ids:
        transport = (await status_of(client, keys["sender"], message_id))["transport"]
        assert transport["tls_version"] in ("TLSv1.2", "TLSv1.3")
        assert transport["tls_version"] == mailbox.tls_versions[0]
        assert transport["cipher"]
        assert transport["certificate_sha256"] == expected_sha
        assert transport["verified_name"] == "127.0.0.1"

    db = app.state.resources.db
    records = await db.fetch(
        "SELECT object_id, outcome, detail FROM audit_log WHERE action = 'message.deliver'"
    )
    assert sorted(r["object_id"] for r in records) == sorted(ids)  # one each, no more
    for record in records:
        assert record["outcome"] == "sent"
        assert f"cert_sha256={expected_sha}" in record["detail"]
        assert "name=127.0.0.1" in record["detail"]
    async with db.acquire() as conn:
        assert await audit.verify_chain(conn) is None
        # No PHI: no address anywhere in the evidence or the audit trail (its text columns: the
        # hashes are bytes, whose repr may hold an "@" by chance).
        dump = " ".join(str(v) for row in await conn.fetch(
            "SELECT a.actor, a.action, a.object_type, a.object_id, a.outcome, a.detail,"
            " m.tls_version, m.tls_cipher, m.tls_certificate_sha256, m.tls_verified_name"
            " FROM audit_log a, messages m") for v in row.values())
    assert "example.org" not in dump and "pat." not in dump and "@" not in dump


async def test_evidence_is_written_by_the_sent_mark_itself(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, app: Starlette,
) -> None:
    """No sent row without evidence, and no evidence or deliver record for an unsent one."""
    sent_id = (await send(client, keys["sender"])).json()["id"]
    waiting_id = (await send(client, keys["sender"],
                             {**REMINDER, "to": "tempfail@example.org"})).json()["id"]
    await run_worker(settings)
    db = app.state.resources.db
    rows = {str(r["id"]): r for r in await db.fetch(
        "SELECT id, status, tls_version, tls_cipher, tls_certificate_sha256, tls_verified_name"
        " FROM messages")}
    assert rows[sent_id]["status"] == "sent"
    assert all(rows[sent_id][c] for c in ("tls_version", "tls_cipher",
                                          "tls_certificate_sha256", "tls_verified_name"))
    assert rows[waiting_id]["status"] == "retrying"
    assert rows[waiting_id]["tls_version"] is None
    assert (await status_of(client, keys["sender"], waiting_id))["transport"] is None
    delivered = await db.fetch(
        "SELECT object_id FROM audit_log WHERE action = 'message.deliver'")
    assert [r["object_id"] for r in delivered] == [sent_id]
    # A mark that finds the row no longer 'sending' (its lease went to another worker) writes
    # nothing and returns nothing, so no audit record claims it.
    marked = await db.fetchval(QUERIES.record_progress, [uuid.UUID(sent_id)], ["TLSv1.3"],
                               ["X"], ["0" * 64], ["relay.test"], [], [])
    assert marked == 0
    assert (await db.fetchrow("SELECT tls_cipher FROM messages WHERE id = $1",
                              uuid.UUID(sent_id)))["tls_cipher"] != "X"
