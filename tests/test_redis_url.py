"""REDIS_URL: a plain, a TLS and a Sentinel Redis; bad URLs refused with the variable's name."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis

from service.core.config import ConfigError, Settings
from service.core.redis_url import RedisUrlError, parse_redis_url
from service.db.resources import open_resources
from tests.conftest import free_port


@pytest.mark.parametrize(("url", "expected"), [
    ("redis://127.0.0.1:6379/0", {"host": "127.0.0.1", "port": 6379, "database": 0,
                                  "ssl": False, "sentinel": False}),
    ("redis://cache", {"host": "cache", "port": 6379, "database": 0}),
    ("redis://:s%40cret@cache:6380/3", {"password": "s@cret", "port": 6380, "database": 3}),
    ("redis://app:pw@[::1]:7000/1", {"host": "::1", "port": 7000, "username": "app"}),
    ("rediss://:pw@cache:6380/0", {"ssl": True, "ssl_check_hostname": True,
                                   "ssl_cert_reqs": "required", "ssl_ca_certs": None}),
    ("rediss://cache/0?ssl_ca_certs=/etc/ca.pem", {"ssl_ca_certs": "/etc/ca.pem"}),
    ("redis+sentinel://:pw@s1:26379,s2,[::1]:26380/primary/2", {
        "sentinel": True, "sentinel_master": "primary", "database": 2, "password": "pw",
        "host": [("s1", 26379), ("s2", 26379), ("::1", 26380)], "ssl": False}),
    ("rediss+sentinel://s1/primary", {"sentinel": True, "ssl": True, "database": 0}),
])
def test_urls_are_read_as_meant(url: str, expected: dict[str, Any]) -> None:
    parsed = parse_redis_url(url)
    assert {name: getattr(parsed, name) for name in expected} == expected


@pytest.mark.parametrize(("url", "problem"), [
    ("http://cache", "must start with"),
    ("redis://cache?ssl=true", "unknown option 'ssl'"),
    ("redis://cache/0?ssl_ca_certs=/x", "needs a rediss://"),
    ("redis://cache:99999", "port"),
    ("redis://cache/zero", "database"),
    ("redis+sentinel://s1:26379", "names the primary"),
    ("redis://:pw@", "names no host"),
])
def test_unusable_urls_are_refused_without_repeating_them(url: str, problem: str) -> None:
    with pytest.raises(RedisUrlError, match=problem) as caught:
        parse_redis_url(url)
    assert "pw" not in str(caught.value)
    with pytest.raises(ConfigError, match=f"REDIS_URL: .*{problem}"):
        Settings.from_env({"REDIS_URL": url, "MASTER_KEYS": "k:" + "A" * 43 + "="})


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[int]:
    """A real Redis Sentinel on loopback that watches the test Redis (it only reads and
    publishes hellos there; with one Sentinel and no replicas it never fails over)."""
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
                    "sentinel monitor testprimary 127.0.0.1 6379 1\n")
    process = subprocess.Popen(["redis-server", str(conf), "--sentinel"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                if client.execute_command("SENTINEL", "get-master-addr-by-name", "testprimary"):
                    break
            except redis.ConnectionError:
                pass
            time.sleep(0.05)
        client.close()
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_the_queue_reaches_the_primary_a_sentinel_names(
    sentinel: int, settings: Settings, redis_url: str,
) -> None:
    database = redis_url.rsplit("/", 1)[1]
    through = replace(
        settings, redis_url=f"redis+sentinel://127.0.0.1:{sentinel}/testprimary/{database}")
    async with open_resources(through) as res:
        await res.redis.enqueue_job("deliver_due", _job_id="through-sentinel",
                                    _queue_name=through.queue_name)
    direct = redis.Redis.from_url(redis_url)
    try:
        assert direct.exists("arq:job:through-sentinel")
    finally:
        direct.close()
