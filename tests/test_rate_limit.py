"""Per-key rate limits: the GCRA arithmetic (pure, table-driven), the Lua script that Redis runs
agreeing with it step by step, the settings, and the real app: 429 with ``Retry-After`` for the
key over its limit only, one bucket shared by two app instances, every /v1 route limited and
nothing else, and requests going through, without waiting, while Redis is away or silent."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis
import yaml
from hypothesis import given
from hypothesis import strategies as st
from starlette.routing import Route

from service.access import ApiKey, create_api_key, split_key
from service.access import rate_limit as rl
from service.access.rate_limit import GCRA_LUA, RateLimiter, gcra, interval_us
from service.core.config import ConfigError, RateLimit, Settings
from service.core.problems import Problem
from service.shipped import openapi_document
from tests.conftest import free_port, serving

S = 1_000_000  # microseconds
# A realistic clock (2025), so the script's number formatting is tried on 16-digit values.
EPOCH = 1_750_000_000 * S

# (interval, burst, [(now, expected wait), ...]), times relative to EPOCH.
SEQUENCES = [
    pytest.param(S, 3, [(0, 0), (0, 0), (0, 0), (0, S), (S // 2, S // 2), (S, 0), (S, S)],
                 id="burst of three, then one per interval"),
    pytest.param(S, 1, [(0, 0), (S // 4, 3 * S // 4), (S, 0), (2 * S - 1, 1), (2 * S, 0)],
                 id="burst one: strict spacing"),
    pytest.param(S, 1, [(0, 0), (0, S), (0, S), (0, S), (S, 0)],
                 id="refused requests cost nothing"),
    pytest.param(S, 2, [(0, 0), (0, 0), (0, S), (100 * S, 0), (100 * S, 0), (100 * S, S)],
                 id="an idle key is full again"),
    pytest.param(60 * S, 2, [(0, 0), (0, 0), (S, 59 * S), (60 * S, 0), (61 * S, 59 * S)],
                 id="per minute"),
    pytest.param(5_000, 400, [(0, 0)] * 400 + [(0, 5_000), (5_000, 0), (5_000, 5_000)],
                 id="the sender default: 400 at once, then 200 a second"),
]


@pytest.mark.parametrize(("interval", "burst", "steps"), SEQUENCES)
def test_gcra(interval: int, burst: int, steps: list[tuple[int, int]]) -> None:
    tat: int | None = None
    for now, wait in steps:
        decision = gcra(EPOCH + now, tat, interval, burst)
        assert decision.wait_us == wait, (now, tat)
        tat = decision.tat_us


@pytest.mark.parametrize(("interval", "burst", "steps"), SEQUENCES)
async def test_the_lua_script_agrees_with_gcra(
    redis_client: aioredis.Redis, interval: int, burst: int, steps: list[tuple[int, int]],
) -> None:
    key = f"{rl.KEY_PREFIX}{uuid.uuid4()}"
    tat: int | None = None
    for now, _ in steps:
        expected = gcra(EPOCH + now, tat, interval, burst)
        # One transaction: the state must not expire, on Redis's real clock, between the
        # script and the reads, nor between the replayed steps.
        async with redis_client.pipeline(transaction=True) as step:
            step.eval(GCRA_LUA, 1, key, interval, burst, EPOCH + now)
            step.get(key).pttl(key).persist(key)
            wait, stored, ttl_ms, _ = await step.execute()
        assert wait == expected.wait_us
        assert (int(stored) if stored is not None else None) == expected.tat_us
        if expected.wait_us == 0:
            # It lives until the bucket is full again.
            assert 0 < ttl_ms <= -(-(expected.tat_us - EPOCH - now) // 1000)
        tat = expected.tat_us


@given(st.integers(1, 10 * S), st.integers(1, 50),
       st.lists(st.integers(0, 3 * S), min_size=1, max_size=300))
def test_no_window_holds_more_than_the_burst_plus_the_rate(
    interval: int, burst: int, gaps: list[int],
) -> None:
    now, tat, allowed = EPOCH, None, []
    for gap in gaps:
        now += gap
        decision = gcra(now, tat, interval, burst)
        if decision.wait_us == 0:
            allowed.append(now)
        tat = decision.tat_us
    for first, start in enumerate(allowed):
        for last in range(first, len(allowed)):
            span = allowed[last] - start
            assert last - first + 1 <= burst + span // interval


@pytest.mark.parametrize(("limit", "expected"), [
    (RateLimit(200, 1, 400), 5_000),
    (RateLimit(600, 60, 600), 100_000),
    (RateLimit(7, 1, 7), 142_858),  # rounded up: never faster than asked
    (RateLimit(1_000_000, 1, 1), 1),
])
def test_interval(limit: RateLimit, expected: int) -> None:
    assert interval_us(limit) == expected


@pytest.mark.parametrize(("wait_us", "seconds"), [(1, 1), (S, 1), (S + 1, 2), (59 * S + 7, 60)])
def test_retry_after_is_whole_seconds_rounded_up(wait_us: int, seconds: int) -> None:
    assert rl.retry_after_seconds(wait_us) == seconds


@pytest.mark.parametrize(("raw", "expected"), [
    ("200/s", RateLimit(200, 1, 200)),
    ("200/s,burst=400", RateLimit(200, 1, 400)),
    (" 200/s, burst=400 ", RateLimit(200, 1, 400)),
    ("600/min", RateLimit(600, 60, 600)),
    ("10/min,burst=1", RateLimit(10, 60, 1)),
    ("1000000/s", RateLimit(1_000_000, 1, 1_000_000)),
    ("0", None),
])
def test_rate_limit_settings(raw: str, expected: RateLimit | None) -> None:
    assert Settings.from_env({"RATE_LIMIT_MARKETER": raw}).rate_limit_marketer == expected


@pytest.mark.parametrize("raw", [
    "200", "200/h", "200/sec", "-1/s", "0/s", "200/s,burst=0", "1000001/s", "200/s,burst=",
    "200/s,400", "1.5/s", "200/s;burst=400", "unlimited",
])
def test_malformed_rate_limits_stop_start_up_naming_the_setting(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"RATE_LIMIT_SENDER": raw})
    assert str(caught.value).startswith("RATE_LIMIT_SENDER: must ") or str(
        caught.value) == "RATE_LIMIT_SENDER: rate and burst must be between 1 and 1000000"


def test_defaults() -> None:
    settings = Settings()
    assert settings.rate_limit_sender == RateLimit(200, 1, 400)
    assert settings.rate_limit_marketer == RateLimit(100, 1, 200)
    assert settings.rate_limit_admin == RateLimit(50, 1, 100)


def test_every_v1_operation_documents_its_429_and_nothing_else_does() -> None:
    paths = yaml.safe_load(openapi_document())["paths"]
    limited = {
        (path, method): operation["responses"].get("429") == {
            "$ref": "#/components/responses/TooManyRequests"}
        for path, item in paths.items() for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert limited == {(path, method): path.startswith("/v1/") for path, method in limited}


# --- the real app ---------------------------------------------------------------------------

def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _limited(settings: Settings, limit: RateLimit) -> Settings:
    return replace(settings, rate_limit_sender=limit, rate_limit_marketer=limit,
                   rate_limit_admin=limit)


def _status_path() -> str:
    return f"/v1/messages/{uuid.uuid4()}"


async def test_a_key_over_its_limit_gets_429_and_another_key_does_not(
    settings: Settings, redis_client: aioredis.Redis,
) -> None:
    async with serving(_limited(settings, RateLimit(1, 60, 3))) as (app, client):
        busy = await create_api_key(app.state.resources.db, "sender", "busy")
        calm = await create_api_key(app.state.resources.db, "sender", "calm")
        for _ in range(3):
            assert (await client.get(_status_path(), headers=_auth(busy))).status_code == 404
        refused = await client.get(_status_path(), headers=_auth(busy))
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        # Three taken at once from a bucket refilling one a minute: the next is a minute away.
        assert refused.headers["retry-after"] == "60"
        body = refused.json()
        assert body["type"].endswith("/rate-limited") and body["status"] == 429
        assert "RATE_LIMIT_SENDER" in body["detail"]
        assert (await client.get(_status_path(), headers=_auth(calm))).status_code == 404

        # The state is named by the key's row id: neither its secret nor its public id.
        names = [name.decode() for name in await redis_client.keys(f"{rl.KEY_PREFIX}*")]
        rows = await app.state.resources.db.fetch("SELECT id, key_id FROM api_keys")
        assert sorted(names) == sorted(f"{rl.KEY_PREFIX}{row['id']}" for row in rows)
        parts = split_key(busy)
        assert parts is not None
        for name in names:
            assert parts[0] not in name and parts[1] not in name
            assert await redis_client.pttl(name) > 0

        metrics = await client.get("/metrics", headers=_auth(
            await create_api_key(app.state.resources.db, "admin", "prometheus")))
        assert 'hipaa_mail_rate_limited_total{role="sender"} 1' in metrics.text
        assert "hipaa_mail_rate_limiter_open 0" in metrics.text


async def test_zero_means_unlimited(settings: Settings) -> None:
    async with serving(replace(_limited(settings, RateLimit(1, 60, 1)),
                               rate_limit_sender=None)) as (app, client):
        sender = await create_api_key(app.state.resources.db, "sender", "unlimited")
        for _ in range(20):
            assert (await client.get(_status_path(), headers=_auth(sender))).status_code == 404


async def test_two_app_instances_share_the_bucket(settings: Settings) -> None:
    limited = _limited(settings, RateLimit(1, 60, 2))
    async with serving(limited) as (app, one), serving(limited) as (_, two):
        key = await create_api_key(app.state.resources.db, "sender", "shared")
        assert (await one.get(_status_path(), headers=_auth(key))).status_code == 404
        assert (await two.get(_status_path(), headers=_auth(key))).status_code == 404
        assert (await one.get(_status_path(), headers=_auth(key))).status_code == 429
        assert (await two.get(_status_path(), headers=_auth(key))).status_code == 429


def _concrete(path: str) -> str:
    return re.sub(r"\{\w+\}", str(uuid.uuid4()), path)


async def test_every_v1_route_is_limited_and_nothing_else(settings: Settings) -> None:
    async with serving(_limited(settings, RateLimit(1, 60, 1))) as (app, client):
        admin = await create_api_key(app.state.resources.db, "admin", "exhausted")
        assert (await client.get("/v1/admin/subjects", headers=_auth(admin))).status_code == 200
        operations = [(route.path, method) for route in app.routes if isinstance(route, Route)
                      for method in sorted(route.methods or ()) if method != "HEAD"]
        assert len([path for path, _ in operations if path.startswith("/v1/")]) >= 20
        for path, method in operations:
            response = await client.request(method, _concrete(path), headers=_auth(admin))
            # Limited before the role check: this admin key is refused on sender routes too.
            assert (response.status_code == 429) is path.startswith("/v1/"), (method, path)


async def test_with_redis_unreachable_requests_go_through_unlimited(
    settings: Settings, caplog: pytest.LogCaptureFixture,
) -> None:
    dead = replace(_limited(settings, RateLimit(1, 60, 1)),
                   redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async with serving(dead) as (app, client):
        sender = await create_api_key(app.state.resources.db, "sender", "during an outage")
        admin = await create_api_key(app.state.resources.db, "admin", "prometheus")
        with caplog.at_level(logging.INFO, logger=rl.__name__):
            for n in range(3):
                started = time.monotonic()
                accepted = await client.post("/v1/messages", headers={
                    **_auth(sender), "Idempotency-Key": f"outage-{n}"}, json={
                    "to": "patient@example.org", "purpose": "treatment",
                    "subject": "Upcoming Appointment Reminder", "content": "Tuesday 10:30"})
                assert accepted.status_code == 202
                assert time.monotonic() - started < 1.0
            metrics = await client.get("/metrics", headers=_auth(admin))
        assert "hipaa_mail_rate_limiter_open 1" in metrics.text
        assert "hipaa_mail_rate_limiter_unchecked_total 3" in metrics.text
    warnings = [r for r in caplog.records if r.name == rl.__name__]
    assert [r.levelno for r in warnings] == [logging.WARNING]  # once, not once a request


def _key() -> ApiKey:
    return ApiKey(uuid.uuid4(), "sender", "test", uuid.uuid4(), b"")


@asynccontextmanager
async def tcp_server(port: int, handle: Any) -> AsyncIterator[None]:
    """A server on ``port`` until the block ends, and then its connections closed too."""
    writers: set[asyncio.StreamWriter] = set()

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        await handle(reader, writer)

    server = await asyncio.start_server(tracked, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with suppress(ConnectionError):
        while await reader.read(4096):
            pass  # reads every command and answers none: a Redis that hangs


def _proxy_to(redis_url: str) -> Any:
    target = urlsplit(redis_url)

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream = await asyncio.open_connection(target.hostname, target.port)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with suppress(ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pump(reader, upstream), pump(upstream_reader, writer))

    return proxy


async def test_a_silent_redis_costs_one_timeout_then_nothing_until_the_probe(
    settings: Settings, redis_url: str, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    # The test run's own database, for when the port leads to the real Redis.
    client = aioredis.Redis(host="127.0.0.1", port=port, db=int(urlsplit(redis_url).path[1:]))
    monkeypatch.setattr(rl, "PROBE_SECONDS", 0.5)
    limiter = RateLimiter(client, _limited(settings, RateLimit(1, 60, 1)), timeout=0.2)
    key = _key()
    try:
        with caplog.at_level(logging.INFO, logger=rl.__name__):
            async with tcp_server(port, _silent):
                started = time.monotonic()
                await limiter.check(key)
                assert 0.2 <= time.monotonic() - started < 0.5  # the timeout, and no more
                started = time.monotonic()
                for _ in range(100):
                    await limiter.check(key)  # over the limit, were Redis answering
                assert time.monotonic() - started < 0.1
            assert [r.getMessage() for r in caplog.records] == [
                "rate limiter open: API keys are not limited until Redis answers"]
            # Redis is back (the same port now reaches the real one): the next probe finds it.
            await asyncio.sleep(0.5)
            async with tcp_server(port, _proxy_to(redis_url)):
                await limiter.check(key)
                with pytest.raises(Problem) as refused:
                    await limiter.check(key)
        assert refused.value.status == 429
        assert [r.getMessage() for r in caplog.records][1:] == [
            "rate limiter closed: API keys are limited again"]
        assert limiter.unchecked == 101
    finally:
        await client.aclose()


async def test_checks_arriving_together_share_a_pipeline_and_keep_their_count(
    settings: Settings, redis_client: aioredis.Redis,
) -> None:
    """Concurrent checks go to Redis in one pipelined round trip, each still its own atomic
    step: a burst of 5 lets exactly 5 of 12 through. After Redis lost its scripts (a restart,
    SCRIPT FLUSH), the limiter loads the script again and counts as before."""
    limiter = RateLimiter(redis_client, _limited(settings, RateLimit(1, 60, 5)))
    key = _key()
    outcomes = await asyncio.gather(*(limiter.check(key) for _ in range(12)),
                                    return_exceptions=True)
    assert limiter._batcher.batches < 12
    assert outcomes.count(None) == 5
    assert all(isinstance(o, Problem) and o.status == 429 for o in outcomes if o is not None)

    await redis_client.script_flush()
    other = _key()
    outcomes = await asyncio.gather(*(limiter.check(other) for _ in range(7)),
                                    return_exceptions=True)
    assert outcomes.count(None) == 5 and limiter.unchecked == 0
