"""Batches of sends in three overlapping steps, so that the SMTP sessions never wait on the
database: while one batch is on the wire, the worker claims the next (checking its consent) and
records the one before as sent.

At most one batch is on the wire and one is being recorded at any time; a batch is recorded
only after its sends are through, and recordings happen in order.

A shutdown (the job cancelled) does not cut a batch off: the batch on the wire and the one just
claimed are awaited shielded and can be finished and recorded (``finish``), so a restarted worker
neither waits for their leases to run out nor sends them again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

Batch = TypeVar("Batch")
Sent = TypeVar("Sent")


class SendPipeline(Generic[Batch, Sent]):
    def __init__(self, send: Callable[[Batch], Coroutine[Any, Any, Sent]],
                 record: Callable[[Batch, Sent], Coroutine[Any, Any, int]]) -> None:
        self._send = send
        self._record = record
        self._on_the_wire: tuple[Batch, asyncio.Task[Sent]] | None = None
        self._recording: asyncio.Task[int] | None = None
        # Claimed, not yet on the wire: kept until it is, so that a shutdown can still send it.
        self._next: Batch | None = None
        self.recorded = 0

    async def advance(self, claimed: Batch | None) -> None:
        """Waits for the batch on the wire, starts recording it, and puts ``claimed`` (if any)
        on the wire in its place."""
        self._next = claimed
        if self._on_the_wire is not None:
            batch, sending = self._on_the_wire
            # Shielded, and forgotten only once recorded: a cancelled caller leaves the batch
            # running and in place for finish().
            await asyncio.shield(sending)
            await self._finish_recording()
            self._recording = asyncio.create_task(self._record(batch, sending.result()))
            self._on_the_wire = None
        if claimed is not None:
            self._on_the_wire = (claimed, asyncio.create_task(self._send(claimed)))
        self._next = None

    async def drain(self) -> None:
        await self.advance(None)
        await self._finish_recording()

    async def finish(self, grace_seconds: float,
                     claiming: Awaitable[Batch] | None = None) -> None:
        """Shutdown: sends and records what is claimed, and what ``claiming`` (a claim that was
        under way) brings, for at most ``grace_seconds``."""
        async def everything() -> None:
            late = await claiming if claiming is not None else None
            await self.advance(late or self._next)
            await self.drain()

        try:
            await asyncio.wait_for(everything(), grace_seconds)
        except TimeoutError:
            pass  # cancel() stops the rest; their leases bring them back

    def cancel(self) -> None:
        """Stops what is under way. What was claimed and not recorded is sent again once its
        lease runs out: at least once, never lost."""
        if self._on_the_wire is not None:
            self._on_the_wire[1].cancel()
        if self._recording is not None:
            self._recording.cancel()

    async def _finish_recording(self) -> None:
        if self._recording is not None:
            self.recorded += await asyncio.shield(self._recording)
            self._recording = None
