"""Micro-batching: calls that arrive within a moment of each other share one round trip.

A ``Batcher`` collects submitted items and hands them to its ``run`` function together. A batch
goes as soon as nothing is being run (at the next turn of the event loop, so that what arrived
in the same turn joins it), when it is full, or when its first item has waited ``max_wait``;
so a lone call is never held back, and under load each call waits at most ``max_wait`` for a
batch to form.

A batch runs in a task of its own: a caller that is cancelled (a client that went away) stops
waiting for its answer, but never stops the batch, whose other callers still get theirs. So a
batch can outlive every request that fed it, and the app drains its batchers at shutdown before
closing the stores they write to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# One result per item, in order: a value, or the exception that item's caller is to raise.
Run = Callable[[list[T]], Awaitable[Sequence[R | BaseException]]]


class Batcher(Generic[T, R]):
    def __init__(self, run: Run[T, R], max_wait: float, max_size: int) -> None:
        self._run = run
        self._max_wait = max_wait
        self._max_size = max_size
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._flush_handle: asyncio.Handle | None = None
        self._running: set[asyncio.Task[None]] = set()
        # Figures for tests and benchmarks: batches run, and items they carried.
        self.batches = 0
        self.items = 0

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if len(self._pending) >= self._max_size:
            self._flush()
        elif self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = (loop.call_soon(self._flush) if not self._running
                                  else loop.call_later(self._max_wait, self._flush))
        return await future

    async def drain(self, seconds: float) -> bool:
        """Sends what is waiting and waits, at most ``seconds``, until no batch is running;
        whether none is. Waiting never cancels a batch, even when the drain is."""
        self._flush()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self._running:
            left = deadline - loop.time()
            if left <= 0:
                return False
            await asyncio.wait(set(self._running), timeout=left)
        return True

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        batch, self._pending = self._pending, []
        if not batch:
            return
        task = asyncio.get_running_loop().create_task(self._run_batch(batch))
        self._running.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        # What waited for this batch to finish goes now, rather than at its deadline.
        if self._pending and not self._running:
            self._flush()

    async def _run_batch(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        self.batches += 1
        self.items += len(batch)
        try:
            results = await self._run([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} got {len(results)} results")
        except Exception as exc:  # every caller of the batch is answered with it
            results = [exc] * len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # its caller was cancelled
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
