"""Redis away: PostgreSQL holds the outbox, so the API keeps accepting into it, and once Redis
is back the worker (its 5 s outbox sweep) delivers everything accepted meanwhile."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.faults.harness import (
    Outcome,
    RedisServer,
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
    wait_count,
    wait_delivered,
)


async def test_redis_absent_when_the_api_starts(svc: Service, redis_server: RedisServer) -> None:
    redis_server.stop()
    svc.start_api()
    async with httpx.AsyncClient(base_url=svc.base, timeout=10) as client:
        ready = await client.get("/readyz")
    outcomes = await post_many(svc.base, svc.keys["sender"], addresses("noredis", 100))
    accepted = {o.address for o in outcomes if o.status == 202}

    await asyncio.to_thread(redis_server.start)
    back = time.monotonic()
    svc.start_worker()
    mailbox = svc.relay.mailbox
    async with supervisor(svc):
        recover = await wait_delivered(mailbox, accepted, back, 60)
        unsettled = await settle(svc.dsn, 5 if recover is not None else 0)
    statuses = await status_counts(svc.dsn)
    figures = tally(mailbox, accepted)
    line = figures.line("redis_absent_at_start", recover, readyz=ready.status_code,
                        answers=answers(outcomes), unsettled=unsettled, statuses=statuses,
                        worker_restarts=svc.worker_restarts)
    record(line)
    body = ready.json() if ready.headers.get("content-type", "").endswith("json") else {}
    verdict(svc, line, [
        (ready.status_code == 200, f"/readyz answers 200: {ready.status_code} {ready.text}"),
        (body.get("redis") == "unreachable", '/readyz says "redis": "unreachable"'),
        (body.get("database") == "ok", '/readyz says "database": "ok"'),
        (len(accepted) == len(outcomes), "every accept answered 202"),
        (figures.lost == 0, "lost == 0"),
        (recover is not None, "all delivered within 60 s of Redis' start"),
        (figures.duplicates == 0, "duplicates == 0"),
    ])


async def test_redis_lost_while_running(svc: Service, redis_server: RedisServer) -> None:
    svc.start_api()
    svc.start_worker()
    mailbox = svc.relay.mailbox
    key = svc.keys["sender"]
    outcomes: list[Outcome] = []
    async with supervisor(svc):
        await post_many(svc.base, key, addresses("rbefore", 200), outcomes=outcomes)
        await wait_count(mailbox, 50, 30)
        await asyncio.to_thread(redis_server.stop)  # SIGKILL: everything in it is gone
        lost_at = time.monotonic()
        during: list[Outcome] = []
        await post_many(svc.base, key, addresses("rduring", 200), outcomes=during)
        await asyncio.sleep(max(0.0, 4.0 - (time.monotonic() - lost_at)))
        await asyncio.to_thread(redis_server.start)  # the same port, empty
        back = time.monotonic()
        await post_many(svc.base, key, addresses("rafter", 100), outcomes=outcomes)
        outcomes += during
        accepted = {o.address for o in outcomes if o.status == 202}
        recover = await wait_delivered(mailbox, accepted, back, 60)
        unsettled = await settle(svc.dsn, 20 if recover is not None else 0)
    statuses = await status_counts(svc.dsn)
    figures = tally(mailbox, accepted)
    line = figures.line("redis_lost_while_running", recover, answers=answers(outcomes),
                        answers_during_outage=answers(during),
                        redis_away_seconds=round(back - lost_at, 1), unsettled=unsettled,
                        statuses=statuses, worker_restarts=svc.worker_restarts)
    record(line)
    verdict(svc, line, [
        (len(accepted) == len(outcomes), "every accept answered 202, during the outage too"),
        (figures.lost == 0, "lost == 0"),
        (recover is not None, "all delivered within 60 s of Redis' return"),
        # The worker's arq loop stops with Redis; its delivery job finishes what is on the wire,
        # and the process starts a fresh one when Redis is back, with no supervisor's help.
        (figures.duplicates == 0, "duplicates == 0"),
        (svc.worker_restarts == 0, "the worker process lived through the outage"),
        (figures.unexpected == 0, "unexpected == 0"),
    ])
