"""Random bytes drawn from the OS in blocks rather than one system call per value.

Sealing an audience of a million addresses wants a million GCM nonces; one ``getrandom`` per
value was a third of the upload's time. The bytes are the same CSPRNG output, handed out once
each. A forked child drops the parent's block, so no two processes can hand out the same nonce.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import uuid

_BLOCK = 64 * 1024
_pool = bytearray()
# Taking bytes is two steps (copy, then cut); two threads between them would share a nonce.
_lock = threading.Lock()


def random_bytes(n: int) -> bytes:
    global _pool
    with _lock:
        if len(_pool) < n:
            _pool = bytearray(os.urandom(max(_BLOCK, n)))
        taken = bytes(_pool[-n:])
        del _pool[-n:]
    return taken


def time_ordered_uuid(at: dt.datetime | None = None) -> uuid.UUID:
    """A version-7 UUID (RFC 9562): the millisecond it was made, then 74 random bits. Message
    ids are the primary key of the largest table, and of its events' index; ids in time order
    land at the right edge of those indexes instead of on a random page each, which at ten
    million rows took one full-page image of WAL per index per message (bench/table_growth.py).
    The id shows when the message was accepted, which whoever may read it already knows.
    ``at`` makes the id of another moment (tests that age rows)."""
    ms = time.time_ns() // 1_000_000 if at is None else int(at.timestamp() * 1000)
    rand = int.from_bytes(random_bytes(10), "big")
    value = ((ms & (1 << 48) - 1) << 80 | 0x7 << 76 | (rand >> 62 & 0xFFF) << 64
             | 0b10 << 62 | rand & (1 << 62) - 1)
    return uuid.UUID(int=value)


def time_ordered_floor(at: dt.datetime) -> uuid.UUID:
    """The least id ``time_ordered_uuid`` can make at ``at`` or later: every id made earlier
    sorts below it, so ``id < floor`` walks the primary key's oldest end only."""
    ms = int(at.timestamp() * 1000)
    return uuid.UUID(int=(ms & (1 << 48) - 1) << 80)


def _forget() -> None:
    global _lock
    _pool.clear()
    _lock = threading.Lock()  # a fork can happen while another thread holds it


os.register_at_fork(after_in_child=_forget)
