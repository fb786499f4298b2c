"""API keys an admin manages: listed a page at a time without secrets, created and rotated with
the new key shown once, revoked at once in every API process (and its dashboard sessions with
it), refused after their expiry, audited, and kept to the admin's own organization; the same
verbs from the command line."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from starlette.applications import Starlette

from service.access import VerifiedKeys, authenticate, create_api_key, create_organization
from service.access.key_events import APPLICATION_NAME, flush_last_used
from service.core import paths as p
from service.core.config import Settings
from service.http.app import create_app
from tests.admin_session import key_id, signed_in
from tests.helpers import auth
from tests.test_cli import run

OTHER = "Hillside Clinic"


async def accepted(client: httpx.AsyncClient, key: str) -> bool:
    """401 when the key is refused; once accepted, a 404 (or 403 for a role the route is not
    for)."""
    probe = p.MESSAGE.format(message_id=uuid.uuid4())
    status = (await client.get(probe, headers=auth(key))).status_code
    assert status in (401, 403, 404), status
    return status != 401


def cached(app: Starlette, key: str) -> bool:
    verified: VerifiedKeys = app.state.verified_keys
    return verified.get(hashlib.sha256(key.encode()).digest()) is not None


async def listening(app: Starlette) -> None:
    for _ in range(200):
        if app.state.verified_keys.trusted:
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the key events listener did not start")


@asynccontextmanager
async def second_process(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Another API process on the same database: an app of its own, with its own cache."""
    other = create_app(settings)
    async with other.router.lifespan_context(other):
        await listening(other)
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport,
                                     base_url="https://portal.clinic.test") as client:
            client.app = other  # type: ignore[attr-defined]
            yield client


async def audit_trail(app: Starlette) -> list[tuple[str, str, str, str]]:
    rows = await app.state.resources.db.fetch(
        "SELECT actor, action, object_id, outcome FROM audit_log WHERE action LIKE 'api_key.%'"
        " ORDER BY id")
    return [(r["actor"], r["action"], r["object_id"], r["outcome"]) for r in rows]


async def actor_of(app: Starlette, key: str) -> str:
    row_id = await app.state.resources.db.fetchval(
        "SELECT id FROM api_keys WHERE key_id = $1", key_id(key))
    return f"api-key:{row_id}"


def soon(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).isoformat()


async def test_an_admin_lists_its_organizations_keys_and_never_a_secret(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    db = app.state.resources.db
    extra = [await create_api_key(db, "sender", f"ehr {i}") for i in range(3)]
    await create_organization(db, OTHER)
    stranger = await create_api_key(db, "admin", "hillside admin", OTHER)
    seen: list[dict[str, object]] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        listed = await client.get(p.KEYS, params=params, headers=auth(keys["admin"]))
        assert listed.status_code == 200, listed.text
        body = listed.json()
        assert set(body) == {"items", "next_cursor"} and len(body["items"]) <= 2
        seen += body["items"]
        if (cursor := body["next_cursor"]) is None:
            break
    mine = [*keys.values(), *extra]
    assert sorted(item["key_id"] for item in seen) == sorted(key_id(k) for k in mine)
    assert [item["created_at"] for item in seen] == sorted(
        (item["created_at"] for item in seen), reverse=True)
    first = next(item for item in seen if item["key_id"] == key_id(keys["sender"]))
    assert first == {
        "key_id": key_id(keys["sender"]), "name": "test sender", "role": "sender",
        "status": "active", "created_at": first["created_at"], "last_used_at": None,
        "expires_at": None, "revoked_at": None, "rotated_from": None,
    }
    hashes = [r["secret_hash"].hex() for r in await db.fetch("SELECT secret_hash FROM api_keys")]
    text = str(seen)
    assert not any(k.split("_", 2)[2] in text for k in [*mine, stranger])
    assert not any(h in text for h in hashes)
    theirs = await client.get(p.KEYS, headers=auth(stranger))
    assert [item["key_id"] for item in theirs.json()["items"]] == [key_id(stranger)]
    for role in ("sender", "marketer"):
        assert (await client.get(p.KEYS, headers=auth(keys[role]))).status_code == 403


async def test_a_created_key_is_shown_once_works_for_its_role_and_is_audited(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    made = await client.post(p.KEYS, json={"role": "marketer", "name": " Newsletter tool "},
                             headers=auth(keys["admin"]))
    assert made.status_code == 201, made.text
    assert made.headers["cache-control"] == "no-store"
    body = made.json()
    new = body["key"]
    assert (body["key_id"], body["name"], body["role"]) == (key_id(new), "Newsletter tool",
                                                            "marketer")
    assert await accepted(client, new)
    listed = (await client.get(p.KEYS, headers=auth(keys["admin"]))).json()["items"]
    assert all("key" not in item for item in listed)
    assert await audit_trail(app) == [
        (await actor_of(app, keys["admin"]), "api_key.create", key_id(new), "created")]
    dump = await app.state.resources.db.fetch("SELECT * FROM audit_log")
    assert new.split("_", 2)[2] not in str([dict(r) for r in dump])
    for wrong in ({"role": "root", "name": "x"}, {"role": "sender"},
                  {"role": "sender", "name": "x", "expires_at": "tomorrow"},
                  {"role": "sender", "name": "x", "expires_at": "2020-01-01T00:00:00Z"},
                  {"role": "sender", "name": "x", "expires_at": "2099-01-01T00:00:00"},
                  {"role": "sender", "name": "x", "secret": "mine"}):
        refused = await client.post(p.KEYS, json=wrong, headers=auth(keys["admin"]))
        assert refused.status_code == 422, wrong
        assert "tomorrow" not in refused.text


async def test_a_revoked_key_is_refused_at_once_in_every_process_and_its_sessions_end(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
) -> None:
    await listening(app)
    ops = await create_api_key(app.state.resources.db, "admin", "ops")
    await signed_in(app, client, ops)  # the client holds the session cookie from here on
    assert (await client.get(p.DASHBOARD)).status_code == 200
    async with second_process(settings) as elsewhere:
        for key in (keys["sender"], ops):
            assert await accepted(client, key) and await accepted(elsewhere, key)
            # Both processes would now answer from their caches, without the database.
            assert cached(app, key) and cached(elsewhere.app, key)  # type: ignore[attr-defined]
        for key in (keys["sender"], ops):
            revoked = await client.post(p.KEY_REVOKE.format(key_id=key_id(key)),
                                        headers=auth(keys["admin"]))
            assert revoked.status_code == 200, revoked.text
            assert revoked.json()["status"] == "revoked" and revoked.json()["revoked_at"]
            assert not await accepted(client, key)
            assert not await accepted(elsewhere, key)
        assert await accepted(elsewhere, keys["marketer"])
    dashboard = await client.get(p.DASHBOARD)
    assert (dashboard.status_code, dashboard.headers["location"]) == (303, p.DASHBOARD_LOGIN)
    assert await app.state.resources.db.fetchval("SELECT count(*) FROM admin_sessions") == 0
    # Revoking again changes nothing, and records nothing more.
    again = await client.post(p.KEY_REVOKE.format(key_id=key_id(ops)),
                              headers=auth(keys["admin"]))
    assert again.status_code == 200
    admin = await actor_of(app, keys["admin"])
    assert await audit_trail(app) == [
        (admin, "api_key.revoke", key_id(keys["sender"]), "revoked"),
        (admin, "api_key.revoke", key_id(ops), "revoked"),
    ]


async def test_an_admin_may_revoke_the_key_it_calls_with(
    client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    own = await client.post(p.KEY_REVOKE.format(key_id=key_id(keys["admin"])),
                            headers=auth(keys["admin"]))
    assert own.status_code == 200
    assert (await client.get(p.KEYS, headers=auth(keys["admin"]))).status_code == 401


async def test_a_rotated_key_keeps_working_until_its_time_then_is_refused(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    await listening(app)
    old = keys["sender"]
    assert await accepted(client, old) and cached(app, old)
    rotated = await client.post(p.KEY_ROTATE.format(key_id=key_id(old)),
                                json={"old_valid_until": soon(1.5)}, headers=auth(keys["admin"]))
    assert rotated.status_code == 201, rotated.text
    body = rotated.json()
    new = body["key"]
    assert (body["role"], body["name"], body["rotated_from"]) == ("sender", "test sender",
                                                                  key_id(old))
    assert await accepted(client, new) and await accepted(client, old)
    listed = {i["key_id"]: i for i in (await client.get(
        p.KEYS, headers=auth(keys["admin"]))).json()["items"]}
    assert listed[key_id(old)]["expires_at"] == body["old_valid_until"]
    # Once a key is rotated, rotating it again is refused until its successor is revoked.
    twice = await client.post(p.KEY_ROTATE.format(key_id=key_id(old)),
                              headers=auth(keys["admin"]))
    assert (twice.status_code, twice.json()["type"].rsplit("/", 1)[1]) == (
        409, "key-already-rotated")
    await asyncio.sleep(1.6)
    # Refused although this process had it cached: its expiry bounds the cache.
    assert not await accepted(client, old)
    assert await accepted(client, new)
    assert (await client.get(p.KEYS, headers=auth(keys["admin"]))).json()["items"][0][
        "status"] == "active"
    gone = await client.post(p.KEY_ROTATE.format(key_id=key_id(old)),
                             headers=auth(keys["admin"]))
    assert (gone.status_code, gone.json()["type"].rsplit("/", 1)[1]) == (409, "key-not-active")
    admin = await actor_of(app, keys["admin"])
    assert [(a, action, o) for a, action, o, _ in await audit_trail(app)] == [
        (admin, "api_key.rotate", key_id(old)), (admin, "api_key.create", key_id(new))]


async def test_rotation_by_default_leaves_the_old_key_a_day_and_at_most_thirty(
    client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    rotate = p.KEY_ROTATE.format(key_id=key_id(keys["marketer"]))
    too_long = await client.post(rotate, json={"old_valid_until": soon(31 * 86400)},
                                 headers=auth(keys["admin"]))
    assert too_long.status_code == 422 and too_long.json()["fields"] == ["old_valid_until"]
    rotated = await client.post(rotate, headers=auth(keys["admin"]))
    assert rotated.status_code == 201, rotated.text
    ends = dt.datetime.fromisoformat(rotated.json()["old_valid_until"])
    expected = dt.datetime.now(dt.UTC) + dt.timedelta(hours=24)
    assert abs((ends - expected).total_seconds()) < 60


async def test_a_key_past_its_expiry_is_refused_like_a_revoked_one(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    made = await client.post(p.KEYS, json={"role": "sender", "name": "temp",
                                           "expires_at": soon(1.0)}, headers=auth(keys["admin"]))
    assert made.status_code == 201, made.text
    temporary = made.json()["key"]
    assert await accepted(client, temporary)
    await asyncio.sleep(1.1)
    assert not await accepted(client, temporary)
    listed = (await client.get(p.KEYS, headers=auth(keys["admin"]))).json()["items"]
    assert listed[0]["status"] == "expired"


async def test_another_organizations_key_ids_are_not_found(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    db = app.state.resources.db
    await create_organization(db, OTHER)
    stranger = await create_api_key(db, "admin", "hillside admin", OTHER)
    for path in (p.KEY_REVOKE, p.KEY_ROTATE):
        for target in (key_id(keys["sender"]), "0" * 16, "not-a-key-id"):
            answer = await client.post(path.format(key_id=target), headers=auth(stranger))
            assert answer.status_code == 404, (path, target)
    assert await accepted(client, keys["sender"])
    assert await db.fetchval("SELECT count(*) FROM api_keys WHERE rotated_from IS NOT NULL") == 0
    assert await audit_trail(app) == []


async def test_last_use_is_written_a_batch_at_a_time_never_by_the_request(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
) -> None:
    db = app.state.resources.db
    assert await accepted(client, keys["sender"])
    assert await accepted(client, keys["sender"])
    assert await db.fetchval("SELECT count(last_used_at) FROM api_keys") == 0
    before = dt.datetime.now(dt.UTC)
    await flush_last_used(db, app.state.verified_keys)
    used = await db.fetchval("SELECT last_used_at FROM api_keys WHERE key_id = $1",
                             key_id(keys["sender"]))
    assert used is not None and before - dt.timedelta(seconds=5) < used <= before
    assert await db.fetchval("SELECT count(last_used_at) FROM api_keys") == 1
    # What a process noted before it stopped is written as it stops.
    async with second_process(settings) as elsewhere:
        assert await accepted(elsewhere, keys["marketer"])
    assert await db.fetchval("SELECT count(last_used_at) FROM api_keys") == 2


async def test_a_lost_listener_stops_the_cache_until_it_is_back(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    await listening(app)
    assert await accepted(client, keys["sender"]) and cached(app, keys["sender"])
    db = app.state.resources.db
    ended = await db.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE application_name = $1 AND datname = current_database()", APPLICATION_NAME)
    assert ended == 1
    for _ in range(200):
        if not app.state.verified_keys.trusted:
            break
        await asyncio.sleep(0.01)
    assert not cached(app, keys["sender"])
    # A revocation now, unheard by this process's cache, is still refused: the cache is off.
    await db.execute("UPDATE api_keys SET revoked_at = now() WHERE key_id = $1",
                     key_id(keys["sender"]))
    assert not await accepted(client, keys["sender"])
    await listening(app)
    assert await accepted(client, keys["marketer"]) and cached(app, keys["marketer"])


async def test_a_key_read_before_a_change_is_not_cached_after_it(app: Starlette) -> None:
    db = app.state.resources.db
    verified = VerifiedKeys()
    key = await create_api_key(db, "sender", "ehr")

    class ChangedMeanwhile:
        async def fetchrow(self, *args: object) -> object:
            row = await db.fetchrow(*args)
            verified.forget_all()  # a NOTIFY heard while the lookup was under way
            return row

    assert await authenticate(ChangedMeanwhile(), f"Bearer {key}", verified) is not None  # type: ignore[arg-type]
    assert verified.get(hashlib.sha256(key.encode()).digest()) is None
    assert await authenticate(db, f"Bearer {key}", verified) is not None
    assert verified.get(hashlib.sha256(key.encode()).digest()) is not None


def _env(settings: Settings) -> dict[str, str]:
    return {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
            "MASTER_KEYS": ",".join(f"{kid}:{base64.b64encode(key).decode()}"
                                    for kid, key in settings.keyring.keys.items())}


async def test_the_key_verbs_list_rotate_and_revoke_from_the_command_line(
    app: Starlette, client: httpx.AsyncClient, settings: Settings, tmp_path: Path,
) -> None:
    env = _env(settings)
    past = run(tmp_path, "create-key", "--role", "sender", "--name", "x",
               "--expires-at", "2020-01-01T00:00:00Z", **env)
    assert past.returncode == 2 and "must be in the future" in past.stderr
    made = run(tmp_path, "create-key", "--role", "sender", "--name", "EHR",
               "--expires-at", soon(86400 * 365), **env)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert await accepted(client, key)
    listed = run(tmp_path, "list-keys", **env)
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.strip().splitlines()
    assert header.split("\t")[:5] == ["key_id", "organization", "role", "name", "status"]
    assert row.split("\t")[:5] == [key_id(key), "default", "sender", "EHR", "active"]
    assert key.split("_", 2)[2] not in listed.stdout
    rotated = run(tmp_path, "rotate-key", "--key-id", key_id(key),
                  "--old-valid-until", soon(3600), **env)
    assert rotated.returncode == 0, rotated.stderr
    new = rotated.stdout.strip().splitlines()[-1]
    assert await accepted(client, new) and await accepted(client, key)
    assert run(tmp_path, "rotate-key", "--key-id", key_id(key), **env).returncode == 1
    # In a thread, so this process's event loop hears the NOTIFY as a server would.
    revoked = await asyncio.to_thread(run, tmp_path, "revoke-key", "--key-id", key_id(key),
                                      **env)
    assert revoked.returncode == 0 and f"revoked key {key_id(key)}" in revoked.stdout
    assert not await accepted(client, key)
    unknown = run(tmp_path, "revoke-key", "--key-id", "0" * 16, **env)
    assert unknown.returncode == 1 and "Not found" in unknown.stderr
    await create_organization(app.state.resources.db, OTHER)
    theirs = run(tmp_path, "list-keys", "--organization", OTHER, **env)
    assert theirs.stdout.strip().splitlines()[1:] == []
    assert [(actor, action, outcome) for actor, action, _, outcome in await audit_trail(app)] == [
        ("cli", "api_key.create", "created"), ("cli", "api_key.rotate", "rotated"),
        ("cli", "api_key.create", "created"), ("cli", "api_key.revoke", "revoked"),
    ]
