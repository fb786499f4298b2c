"""Batches of sends in three overlapping steps, so that the SMTP sessions never wait on the
database: while one batch is on the wire, the worker claims the next (checking its consent) and
records the one before as sent.

At most one batch is on the wire and one is being recorded at any time; a batch is recorded
only after its sends are through, and recordings happen in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
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
        self.recorded = 0

    async def advance(self, claimed: Batch | None) -> None:
        """Waits for the batch on the wire, starts recording it, and puts ``claimed`` (if any)
        on the wire in its place."""
        if self._on_the_wire is not None:
            batch, sending = self._on_the_wire
            self._on_the_wire = None
            result = await sending
            await self._finish_recording()
            self._recording = asyncio.create_task(self._record(batch, result))
        if claimed is not None:
            self._on_the_wire = (claimed, asyncio.create_task(self._send(claimed)))

    async def drain(self) -> None:
        await self.advance(None)
        await self._finish_recording()

    def cancel(self) -> None:
        """Stops what is under way (shutdown). What was claimed and not recorded is sent again
        once its lease runs out: at least once, never lost."""
        if self._on_the_wire is not None:
            self._on_the_wire[1].cancel()
        if self._recording is not None:
            self._recording.cancel()

    async def _finish_recording(self) -> None:
        if self._recording is not None:
            self.recorded += await self._recording
            self._recording = None
