"""The relay refusing connections for a few seconds: messages wait as ``retrying`` and go out
once it is back (the first retry comes 15-30 s after the failure), each exactly once."""

from __future__ import annotations

import asyncio
import time

from tests.faults.harness import (
    Service,
    addresses,
    answers,
    post_many,
    record,
    settle,
    status_counts,
    supervisor,
    tally,
    verdict,
    wait_delivered,
)

OUTAGE_SECONDS = 4.0


async def test_relay_down_then_back(svc: Service) -> None:
    svc.start_api()
    svc.start_worker()
    relay = svc.relay
    key = svc.keys["sender"]
    async with supervisor(svc):
        # Mail flows first, so the worker's pooled sessions are open when the relay goes.
        outcomes = await post_many(svc.base, key, addresses("relaywarm", 30))
        warm = {o.address for o in outcomes if o.status == 202}
        warmed = await wait_delivered(relay.mailbox, warm, time.monotonic(), 30)
        # Their sent marks are in, too: the relay goes while nothing is on the wire (a mail
        # the relay took whose reply it never sent is the SIGKILL tests' case, not this one).
        open_before = await settle(svc.dsn, 10)
        relay.stop()
        down = time.monotonic()
        outcomes += await post_many(svc.base, key, addresses("relaydown", 100))
        retrying = 0
        while time.monotonic() - down < OUTAGE_SECONDS:
            counts = await status_counts(svc.dsn)
            retrying = max(retrying, sum(n for status, n in counts.items()
                                         if status.partition("/")[0] == "retrying"))
            await asyncio.sleep(0.2)
        relay.start()
        back = time.monotonic()
        accepted = {o.address for o in outcomes if o.status == 202}
        recover = await wait_delivered(relay.mailbox, accepted, back, 60)
        unsettled = await settle(svc.dsn, 10 if recover is not None else 0)
    statuses = await status_counts(svc.dsn)
    figures = tally(relay.mailbox, accepted)
    line = figures.line("relay_down_then_back", recover, answers=answers(outcomes),
                        retrying_seen=retrying, relay_away_seconds=round(back - down, 1),
                        unsettled=unsettled, statuses=statuses, worker_restarts=svc.worker_restarts)
    record(line)
    verdict(svc, line, [
        (warmed is not None and open_before == 0, "the warm-up mail delivered and recorded sent"),
        (len(accepted) == len(outcomes), "every accept answered 202"),
        (retrying > 0, "messages went retrying while the relay was down"),
        (figures.lost == 0, "lost == 0"),
        (recover is not None, "all delivered within 60 s of the relay's return"),
        (figures.duplicates == 0, "duplicates == 0"),
        (figures.unexpected == 0, "unexpected == 0"),
    ])
