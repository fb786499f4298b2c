"""Master-key rotation: data sealed under key A still opens, through the service's own paths,
once ``rotate-keys`` has run and A is gone from the keyring."""

from __future__ import annotations

import os
from dataclasses import replace

import asyncpg
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from service.access import create_api_key
from service.core.config import ConfigError, Settings
from service.core.crypto import Keyring, new_token
from service.db.pool import create_db_pool
from service.db.rotation import SEALED_COLUMNS, Report, census, rotate
from service.devtools.relay import Mailbox
from tests.campaign_setup import audience_csv, authorize_all, create, upload
from tests.conftest import run_worker, serving
from tests.helpers import REMINDER, auth, portal_token, send

KEY_A, KEY_B = os.urandom(32), os.urandom(32)


def only_a() -> Keyring:
    return Keyring({"A": KEY_A}, active="A")


def b_then_a() -> Keyring:
    return Keyring({"B": KEY_B, "A": KEY_A}, active="B")


def only_b() -> Keyring:
    return Keyring({"B": KEY_B}, active="B")


async def rotated(settings: Settings) -> tuple[Report, Report]:
    keyring = b_then_a()
    pool = await create_db_pool(replace(settings, keyring=keyring))
    try:
        first = await rotate(pool, keyring, batch=2)  # small batches: the keyset walk is exercised
        second = await rotate(pool, keyring)
    finally:
        await pool.close()
    return first, second


async def test_data_sealed_under_a_opens_after_rotation_with_a_removed(
    settings: Settings, mailbox: Mailbox,
) -> None:
    under_a = replace(settings, keyring=only_a())
    audience = [f"reader{n}@example.org" for n in range(3)]
    async with serving(under_a) as (app, client):
        db = app.state.resources.db
        sender = await create_api_key(db, "sender", "ehr")
        marketer = await create_api_key(db, "marketer", "marketing")
        admin = await create_api_key(db, "admin", "ops")
        delivered = await send(client, sender, {**REMINDER, "verification": "1980-03-14"})
        assert delivered.status_code == 202
        await run_worker(under_a)
        delivered_token = portal_token(mailbox.messages[-1][2])
        made = await client.post("/v1/contacts", headers=auth(sender), json={
            "email": "pat.jones@example.org", "name": "Pat Jones", "external_ref": "MRN-1",
            "tags": ["newsletter"]})
        assert made.status_code == 201
        suppressed = await client.post("/v1/suppressions", headers=auth(admin), json={
            "email": "gone@example.org", "reason": "complaint"})
        assert suppressed.status_code == 201
        marketer_id = await db.fetchval("SELECT id FROM api_keys WHERE role = 'marketer'")
        await authorize_all(app, audience, marketer_id)
        campaign = await create(client, marketer)
        await upload(client, marketer, campaign, audience_csv(audience))
        # A campaign sent before the rotation: its messages' addresses are sealed to the
        # campaign and the address index, not to the message id.
        earlier = await create(client, marketer, name="Earlier")
        await upload(client, marketer, earlier, audience_csv(audience))
        assert (await client.post(f"/v1/campaigns/{earlier}/send",
                                  headers=auth(marketer))).status_code == 202
        await run_worker(under_a)
        # Accepted while no worker runs: its recipient and token wait, sealed under A.
        pending = await send(client, sender, {**REMINDER, "to": "second@example.org",
                                              "content": "Flu shot clinic on Friday."})
        assert pending.status_code == 202

    first, second = await rotated(settings)
    assert first.retired == ["A"] and first.still_needed == []
    assert set(first.census) == {"B"}
    assert sum(r.resealed for r in first.columns.values()) > 10
    # A second run finds nothing left to do: re-running (or resuming) is safe.
    assert sum(r.resealed for r in second.columns.values()) == 0

    under_b = replace(settings, keyring=only_b())
    async with serving(under_b) as (app, client):
        page = await client.post(f"/p/{delivered_token}", data={"answer": "1980-03-14"})
        assert page.status_code == 200 and "Dr. Rivera" in page.text
        mailbox.messages.clear()
        await run_worker(under_b)
        assert len(mailbox.messages) == 1  # the pending reminder, opened with B alone
        page = await client.post(f"/p/{portal_token(mailbox.messages[0][2])}")
        assert page.status_code == 200 and "Flu shot clinic" in page.text
        # The blind indexes still match: the contact is found, the suppression still holds.
        again = await client.post("/v1/contacts", headers=auth(sender),
                                  json={"email": "Pat.Jones@example.org"})
        assert (again.status_code, again.json()["id"]) == (200, made.json()["id"])
        refused = await send(client, sender, {**REMINDER, "to": "gone@example.org"})
        assert (refused.status_code, refused.json()["reason"]) == (422, "suppressed")
        mailbox.messages.clear()
        started = await client.post(f"/v1/campaigns/{campaign}/send", headers=auth(marketer))
        assert started.status_code == 202
        await run_worker(under_b)
        assert sorted(to for _, to, _ in mailbox.messages) == [[a] for a in audience]


def legacy_token_seal(master: bytes, kid: str, plaintext: bytes, token: bytes,
                      aad: bytes) -> bytes:
    """Portal content as it was sealed before token-layered blobs (version 1): one key from the
    master key and the token together. Written out here, independently of the service."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=token,
               info=b"portal-content").derive(master)
    header = bytes([1, len(kid)]) + kid.encode()
    nonce = os.urandom(12)
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, header + aad)


async def test_old_portal_content_is_converted_while_its_token_is_kept_and_reported_after(
    settings: Settings, database_url: str,
) -> None:
    under_a = replace(settings, keyring=only_a())
    async with serving(under_a) as (app, client):
        sender = await create_api_key(app.state.resources.db, "sender", "ehr")
        for n in range(2):
            assert (await send(client, sender, {**REMINDER, "to": f"p{n}@example.org"})
                    ).status_code == 202
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT id, token_sealed FROM messages ORDER BY id")
        keyring = only_a()
        for row in rows:
            token, raw = new_token()
            aad = row["id"].bytes
            await conn.execute(
                "UPDATE messages SET content_sealed = $1, token_sealed = $2 WHERE id = $3",
                legacy_token_seal(KEY_A, "A", b"old content", raw, aad + b"content"),
                keyring.seal(token.encode(), aad + b"token"), row["id"])
        # The first was delivered before the upgrade: only the patient has its token now.
        delivered = rows[0]["id"]
        await conn.execute("UPDATE messages SET token_sealed = NULL, status = 'sent'"
                           " WHERE id = $1", delivered)
    finally:
        await conn.close()

    first, _ = await rotated(settings)
    content = first.columns["messages.content_sealed"]
    assert (content.resealed, dict(content.stuck)) == (1, {"A": 1})
    assert first.still_needed == ["A"] and first.retired == []


async def test_every_sealed_column_in_the_schema_is_rotated(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        found = {(r["table_name"], r["column_name"]) for r in await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND data_type = 'bytea'"
            " AND (column_name LIKE '%sealed%' OR table_name = 'data_keys')")}
    finally:
        await conn.close()
    assert found == {(c.table, c.column) for c in SEALED_COLUMNS}


async def test_a_keyring_without_the_index_keys_sealer_refuses_to_start(
    settings: Settings,
) -> None:
    pool = await create_db_pool(replace(settings, keyring=only_a()))
    await pool.close()
    with pytest.raises(ConfigError, match="'A', which seals the database's index key"):
        await create_db_pool(replace(settings, keyring=only_b()))


async def test_census_counts_each_key(settings: Settings) -> None:
    pool = await create_db_pool(replace(settings, keyring=only_a()))
    try:
        counts = await census(pool)
    finally:
        await pool.close()
    assert counts == {"A": 1}  # the index key alone, on an empty database
