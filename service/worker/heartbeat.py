"""The worker's liveness: a file touched from its event loop, checked by ``worker --check``.

A worker whose loop is blocked or dead stops touching the file, and the container's health check
(or Kubernetes' liveness probe) restarts it. It deliberately does not depend on PostgreSQL or
Redis: an outage of either would otherwise restart every worker at once, which helps nobody.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

BEAT_SECONDS = 5.0
STALE_SECONDS = 30.0


async def beat(path: Path) -> None:
    while True:
        path.touch()  # noqa: ASYNC240 - one tiny local metadata write every few seconds
        await asyncio.sleep(BEAT_SECONDS)


def check(path: Path, now: float | None = None) -> str | None:
    """None when the worker is alive, else why not (one line)."""
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return f"no heartbeat at {path}: the worker has not started (WORKER_HEARTBEAT_FILE)"
    if age > STALE_SECONDS:
        return f"heartbeat {age:.0f} s old (over {STALE_SECONDS:.0f} s): the worker is stuck"
    return None
