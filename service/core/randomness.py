"""Random bytes drawn from the OS in blocks rather than one system call per value.

Sealing an audience of a million addresses wants a million GCM nonces, and fanning it out a
million message ids; one ``getrandom`` per value was a third of the upload's time. The bytes are
the same CSPRNG output, handed out once each. A forked child drops the parent's block, so no
two processes can hand out the same nonce.
"""

from __future__ import annotations

import os
import threading
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


def random_uuids(n: int) -> list[uuid.UUID]:
    """``n`` version-4 UUIDs, as ``uuid.uuid4()`` would make them."""
    raw = random_bytes(16 * n)
    return [uuid.UUID(bytes=raw[i:i + 16], version=4) for i in range(0, 16 * n, 16)]


def _forget() -> None:
    global _lock
    _pool.clear()
    _lock = threading.Lock()  # a fork can happen while another thread holds it


os.register_at_fork(after_in_child=_forget)
