"""The delivery pipeline's ordering guarantees, with plain coroutines standing in for the steps:
one batch on the wire at a time, a batch recorded only after its sends, recordings in order,
and the next batch's claim free to run while one is on the wire."""

from __future__ import annotations

import asyncio

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


async def test_cancel_stops_what_is_under_way_and_records_nothing_more() -> None:
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
    pipeline.cancel()
    await asyncio.sleep(0)
    assert recorded == [] and pipeline.recorded == 0
