"""Buffered randomness never hands the same bytes out twice: not to two threads, not to a parent
and its forked child (a repeated GCM nonce would expose the plaintexts it sealed)."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import uuid

import asyncpg

from service.core.randomness import random_bytes, time_ordered_floor, time_ordered_uuid


def test_threads_never_share_bytes() -> None:
    taken: list[bytes] = []

    def take() -> None:
        mine = [random_bytes(12) for _ in range(5000)]
        taken.extend(mine)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(taken)) == len(taken) == 20000


def test_a_forked_child_does_not_reuse_the_parents_bytes() -> None:
    random_bytes(1)  # the parent now holds a block
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write_end, random_bytes(12))
        os._exit(0)
    os.close(write_end)
    child = os.read(read_end, 12)
    os.close(read_end)
    os.waitpid(pid, 0)
    assert len(child) == 12
    assert child != random_bytes(12)


def test_time_ordered_uuids_are_version_7_in_the_order_they_were_made() -> None:
    before = time.time_ns() // 1_000_000
    ids = []
    for _ in range(2000):
        ids.append(time_ordered_uuid())
        if len(ids) % 500 == 0:
            time.sleep(0.002)  # a few distinct milliseconds
    after = time.time_ns() // 1_000_000
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in ids)
    stamps = [u.int >> 80 for u in ids]
    assert stamps == sorted(stamps) and before <= stamps[0] and stamps[-1] <= after
    assert len(set(stamps)) >= 4
    # Ordered across milliseconds, random within one: 74 bits that differ between any two.
    assert len(set(ids)) == len(ids)
    assert len({u.int & (1 << 62) - 1 for u in ids}) == len(ids)


async def test_the_databases_time_ordered_ids_have_the_same_layout(database_url: str) -> None:
    """Campaign messages get their ids in SQL (migration 0029): version 7, the clock's
    milliseconds first, in the order they were made, as ``time_ordered_uuid`` makes them."""
    conn = await asyncpg.connect(database_url)
    try:
        before = time.time_ns() // 1_000_000
        ids: list[uuid.UUID] = await conn.fetchval(
            "SELECT array_agg(time_ordered_uuid() ORDER BY n) FROM generate_series(1, 5000) n")
        after = time.time_ns() // 1_000_000
    finally:
        await conn.close()
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in ids)
    stamps = [u.int >> 80 for u in ids]
    assert stamps == sorted(stamps) and before - 5 <= stamps[0] and stamps[-1] <= after + 5
    assert len(set(ids)) == len(ids)


def test_the_floor_of_a_moment_splits_the_ids_made_before_it_from_those_made_after() -> None:
    at = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
    floor = time_ordered_floor(at)
    for _ in range(1000):
        assert time_ordered_uuid(at - dt.timedelta(milliseconds=1)) < floor
        assert time_ordered_uuid(at) >= floor
        assert time_ordered_uuid(at + dt.timedelta(days=1)) > floor
