"""``python -m service worker``: the arq worker, kept running through Redis and PostgreSQL
outages.

arq stops its worker when Redis goes away (its poll raises) and refuses to start without it. A
process that exits then is restarted by its supervisor with a growing back-off (Kubernetes'
CrashLoopBackOff reaches five minutes), which is how long mail would wait after Redis is back.
So the process stays up and starts a fresh arq worker a second after the last one stopped; the
heartbeat, touched by this loop rather than by arq, says the process is alive meanwhile.
SIGTERM and SIGINT stop the current worker as arq's own handler does (its jobs cancelled, and
the delivery job finishing what is on the wire) and end the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Any

from arq import Worker

from service.core.config import Settings
from service.db.outage import is_outage
from service.db.queue import REDIS_UNREACHABLE
from service.worker import heartbeat
from service.worker.jobs import build_worker, shutdown

log = logging.getLogger(__name__)

RESTART_SECONDS = 1.0
# What stops arq's close() half-way: Redis gone, or a job's cancellation re-raised.
_CLOSE_CUT_SHORT: tuple[type[BaseException], ...] = (*REDIS_UNREACHABLE, asyncio.CancelledError)


async def serve(settings: Settings, *, burst: bool = False) -> None:
    beating = asyncio.create_task(heartbeat.beat(Path(settings.worker_heartbeat_file)))
    stopping = asyncio.Event()
    current: list[asyncio.Task[None]] = []

    def stop(signum: int) -> None:
        # Only the poll loop: arq's close() then cancels the jobs, once, and waits for them (the
        # delivery job sends what is on the wire; a second cancel would cut that short).
        log.info("stopping on %s", signal.Signals(signum).name)
        stopping.set()
        for running in current:
            running.cancel()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, signum)
    try:
        while not stopping.is_set():
            worker = build_worker(settings, burst=burst, handle_signals=False)
            running = asyncio.create_task(worker.async_run())
            current[:] = [running]
            try:
                await running
                return  # a burst ran out of work
            except asyncio.CancelledError:
                if not stopping.is_set():
                    raise
            except Exception as exc:
                # Start-up needs PostgreSQL too: a worker started during a database restart
                # waits for it the same way.
                if not (isinstance(exc, REDIS_UNREACHABLE) or is_outage(exc)):
                    raise
                log.warning("Redis or PostgreSQL unreachable (%s); the worker starts again in "
                            "%.0f s", type(exc).__name__, RESTART_SECONDS)
            finally:
                await _close(worker)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), RESTART_SECONDS)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating


async def _close(worker: Worker) -> None:
    """arq's close(), which waits for the jobs and releases what start-up opened; without Redis
    it fails half-way, so the release is made sure of here."""
    ctx: dict[str, Any] = worker.ctx
    try:
        await worker.close()
    except _CLOSE_CUT_SHORT:
        await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
        await shutdown(ctx)
