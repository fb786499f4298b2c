"""The fan-out's set-based consent check agrees with the pure decision, case for case.

Fan-out reads marketing verdicts from the state a trigger keeps in PostgreSQL (migration 0008)
instead of replaying each ledger in Python; here every marketing row of the decision table is
written into the real ledger and read back through the fan-out's own query.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from service.campaigns.lanes import ABOVE_EVERY_INDEX
from service.consent.policy import Authorization, ConsentEvent, Refusal, decide
from service.db.queries import QUERIES
from tests.test_consent_policy import CASES

MARKETING = [case for case in CASES if case[0] == "marketing"]


@pytest.fixture
async def conn(clean_db: None, database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    yield connection
    await connection.close()


async def _key(conn: asyncpg.Connection) -> uuid.UUID:
    key_id = uuid.uuid4()
    await conn.execute(QUERIES.insert_api_key, key_id, key_id.hex[:16], b"h", "marketer", "t",
                       await conn.fetchval("SELECT id FROM organizations"), None, None)
    return key_id


async def _contact(conn: asyncpg.Connection, key_id: uuid.UUID) -> tuple[uuid.UUID, bytes]:
    contact_id, index = uuid.uuid4(), os.urandom(32)
    await conn.execute(QUERIES.insert_contact, contact_id, index, b"sealed", None, None, key_id,
                       [], await conn.fetchval(
                           "SELECT organization_id FROM api_keys WHERE id = $1", key_id))
    return contact_id, index


async def _write_ledger(conn: asyncpg.Connection, key_id: uuid.UUID, contact_id: uuid.UUID,
                        events: list[ConsentEvent]) -> None:
    ids: dict[uuid.UUID, uuid.UUID] = {}
    for event in events:
        auth = event.authorization
        if auth is not None and auth.id not in ids:
            ids[auth.id] = uuid.uuid4()
            await conn.execute(
                QUERIES.insert_authorization, ids[auth.id], contact_id, b"sealed terms",
                auth.expires_at, auth.ends_on_event, event.at, True, False,
                hashlib.sha256(ids[auth.id].bytes).digest(),
                hashlib.sha256(b"c" + ids[auth.id].bytes).digest(), key_id,
            )
    for event in events:
        auth_id = ids[event.authorization.id] if event.authorization is not None else None
        await conn.execute(QUERIES.insert_consent_event, contact_id, event.purpose, event.action,
                           event.source, "test", auth_id)


async def _verdicts(conn: asyncpg.Connection, key_id: uuid.UUID,
                    indexes: list[bytes]) -> dict[bytes, str | None]:
    """Each address fanned out alone, through the fan-out's own statement: its refusal, or None
    when it got a message."""
    verdicts: dict[bytes, str | None] = {}
    now = dt.datetime.now(dt.UTC)
    for index in indexes:
        campaign_id = uuid.uuid4()
        await conn.execute(QUERIES.insert_campaign, campaign_id, key_id, "c", "Newsletter", None,
                           None, [], False, 10.0, None, None)
        await conn.execute("INSERT INTO campaign_audience (campaign_id, email_index, email_sealed)"
                           " VALUES ($1, $2, 'x')", campaign_id, index)
        _, created, excluded = await conn.fetchrow(
            QUERIES.fan_out_batch, campaign_id, b"", 1, ABOVE_EVERY_INDEX, "Newsletter", now, now,
            now, 0.1)
        refusals = list(json.loads(excluded))
        assert created + len(refusals) == 1
        verdicts[index] = refusals[0] if refusals else None
    return verdicts


@pytest.mark.parametrize(("purpose", "events", "suppressed", "refusal"), MARKETING)
async def test_fan_out_verdict_is_the_policy_decision(
    conn: asyncpg.Connection, purpose: str, events: list[ConsentEvent], suppressed: bool,
    refusal: Refusal | None,
) -> None:
    key_id = await _key(conn)
    contact_id, index = await _contact(conn, key_id)
    await _write_ledger(conn, key_id, contact_id, events)
    if suppressed:
        await conn.execute(QUERIES.insert_suppression, index, "manual", None)
    verdict = (await _verdicts(conn, key_id, [index]))[index]
    assert verdict == (refusal.value if refusal is not None else None)
    assert decide(purpose, events, suppressed, dt.datetime.now(dt.UTC)).refusal == refusal


async def test_an_address_that_is_no_contact_has_no_authorization(
    conn: asyncpg.Connection,
) -> None:
    key_id = await _key(conn)
    index = os.urandom(32)
    assert await _verdicts(conn, key_id, [index]) == {index: "no_authorization"}


async def test_ledgers_written_in_one_statement_each_get_their_state(
    conn: asyncpg.Connection,
) -> None:
    """COPY and multi-row INSERTs fire the trigger once for many contacts."""
    key_id = await _key(conn)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    people = [await _contact(conn, key_id) for _ in range(3)]
    auths = []
    for contact_id, _ in people:
        auth = Authorization(uuid.uuid4(), soon, False)
        auths.append(auth)
        await conn.execute(QUERIES.insert_authorization, auth.id, contact_id, b"sealed terms",
                           soon, False, soon, True, False, os.urandom(32), os.urandom(32),
                           key_id)
    (a, _), (b, _), (c, _) = people
    await conn.copy_records_to_table(
        "consent_events",
        columns=["contact_id", "purpose", "action", "source", "actor", "authorization_id"],
        records=[
            (a, "marketing", "grant", "paper", "t", auths[0].id),
            (b, "marketing", "grant", "paper", "t", auths[1].id),
            (a, "marketing", "confirm", "portal", "t", auths[0].id),
            (c, "marketing", "grant", "paper", "t", auths[2].id),
            (c, "marketing", "confirm", "portal", "t", auths[2].id),
            (c, "marketing", "revoke", "unsubscribe_link", "t", None),
        ],
    )
    verdicts = await _verdicts(conn, key_id, [index for _, index in people])
    assert [verdicts[index] for _, index in people] == [
        None, "authorization_unconfirmed", "unsubscribed"]


async def test_a_revocation_waiting_on_a_grant_in_flight_is_not_lost(
    conn: asyncpg.Connection, database_url: str,
) -> None:
    """A revocation written while another transaction's grant is uncommitted is applied after
    it: the state ends revoked, as the ledger says."""
    key_id = await _key(conn)
    contact_id, index = await _contact(conn, key_id)
    auth = uuid.uuid4()
    await conn.execute(QUERIES.insert_authorization, auth, contact_id, b"sealed terms",
                       None, True, dt.datetime.now(dt.UTC), True, False,
                       os.urandom(32), os.urandom(32), key_id)
    other = await asyncpg.connect(database_url)
    try:
        granting = conn.transaction()
        await granting.start()
        for action in ("grant", "confirm"):
            await conn.execute(QUERIES.insert_consent_event, contact_id, "marketing", action,
                               "paper", "t", auth)
        revoking = asyncio.create_task(other.execute(
            QUERIES.insert_consent_event, contact_id, "marketing", "revoke", "api", "t", None))
        await asyncio.sleep(0.3)
        assert not revoking.done()  # waits for the grant's transaction
        await granting.commit()
        await asyncio.wait_for(revoking, 5)
    finally:
        await other.close()
    assert await _verdicts(conn, key_id, [index]) == {index: "authorization_revoked"}
