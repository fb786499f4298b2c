"""The delivery pipeline's ordering guarantees, with plain coroutines standing in for the steps:
one batch on the wire at a time, a batch recorded only after its sends, recordings in order,
and the next batch's claim free to run while one is on the wire."""

from __future__ import annotations

import asyncio

import pytest

from service.delivery.pipeline import SendPipeline


async def test_batches_are_sent_one_at_a_time_and_recorded_in_order_after_their_sends() -> None:
    log: list[str] = []
    on_the_wire = 0

    async def send(batch: list[int]) -> list[int]:
        nonlocal on_the_wire
        on_the_wire += 1
        assert on_the_wire == 1
        log.append(f"send {batch[0]}")
        await asyncio.sleep(0.01)
        log.append(f"sent {batch[0]}")
        on_the_wire -= 1
        return [n for n in batch if n % 2 == 0]

    async def record(batch: list[int], delivered: list[int]) -> int:
        assert f"sent {batch[0]}" in log
        await asyncio.sleep(0.02)
        log.append(f"recorded {batch[0]}")
        return len(delivered)

    pipeline: SendPipeline[list[int], list[int]] = SendPipeline(send, record)
    for start in (0, 10, 20):
        await pipeline.advance([start, start + 1, start + 2])
        log.append(f"claimed after {start}")  # the caller's next claim runs here
    await pipeline.drain()

    assert pipeline.recorded == 6
    assert [e for e in log if e.startswith("recorded")] == ["recorded 0", "recorded 10",
                                                             "recorded 20"]
    # The claim after a batch was put on the wire ran before that batch's sends finished.
    assert log.index("claimed after 10") < log.index("sent 10")


@pytest.mark.parametrize("grace_seconds", [None, 0.05])
async def test_a_batch_that_hangs_is_stopped_and_nothing_more_is_recorded(
    grace_seconds: float | None,
) -> None:
    """cancel() at once, or after finish() has waited out its grace."""
    recorded: list[int] = []
    started = asyncio.Event()

    async def send(batch: int) -> int:
        started.set()
        await asyncio.sleep(10)
        return batch

    async def record(batch: int, result: int) -> int:
        recorded.append(batch)
        return 1

    pipeline: SendPipeline[int, int] = SendPipeline(send, record)
    await pipeline.advance(1)
    await started.wait()
    began = asyncio.get_running_loop().time()
    if grace_seconds is not None:
        await pipeline.finish(grace_seconds)
    pipeline.cancel()
    await asyncio.sleep(0)
    assert asyncio.get_running_loop().time() - began < 1
    assert recorded == [] and pipeline.recorded == 0


async def test_a_shutdown_mid_batch_still_sends_and_records_what_was_claimed() -> None:
    """The caller is cancelled while batch 1 is on the wire and batch 2 is claimed: finish()
    sends batch 2 as well and records both, in order, instead of leaving them to their leases."""
    sent: list[int] = []
    recorded: list[int] = []
    on_the_wire = asyncio.Event()

    async def send(batch: int) -> int:
        on_the_wire.set()
        await asyncio.sleep(0.05)
        sent.append(batch)
        return batch

    async def record(batch: int, result: int) -> int:
        recorded.append(result)
        return 1

    pipeline: SendPipeline[int, int] = SendPipeline(send, record)

    async def job() -> None:
        await pipeline.advance(1)
        await pipeline.advance(2)  # waits for batch 1 on the wire: cancelled here
        await pipeline.advance(3)

    running = asyncio.create_task(job())
    await on_the_wire.wait()
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    await pipeline.finish(5)
    pipeline.cancel()
    assert sent == [1, 2] and recorded == [1, 2] and pipeline.recorded == 2

    async def claim_under_way() -> int:
        return 3

    await pipeline.finish(5, claim_under_way())  # a claim the shutdown interrupted
    pipeline.cancel()
    assert sent == [1, 2, 3] and recorded == [1, 2, 3]
