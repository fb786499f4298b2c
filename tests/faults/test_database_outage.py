"""PostgreSQL restarted (fast stop, start) under load: the API answers 503 with Retry-After while
it is away, never 500, and recovers by itself; the worker's jobs retry, and nothing is lost or
sent twice."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.faults.harness import (
    Outcome,
    PgCluster,
    Service,
    addresses,
    answers,
    await_for,
    delivered_count,
    post_many,
    post_reminder,
    record,
    settle,
    status_counts,
    supervisor,
    tally,
    verdict,
    wait_count,
    wait_delivered,
)


async def test_postgres_restart_during_accepts(svc: Service, pg: PgCluster) -> None:
    svc.start_api()
    svc.start_worker()
    mailbox = svc.relay.mailbox
    outcomes: list[Outcome] = []
    async with supervisor(svc):
        posting = asyncio.create_task(
            post_many(svc.base, svc.keys["sender"], addresses("pgacc", 800), outcomes=outcomes,
                      honour_retry_after=True))
        await await_for(lambda: len(outcomes) >= 100 or posting.done(), "100 answers", 30)
        began = time.monotonic()
        away = await asyncio.to_thread(pg.restart)
        back = time.monotonic()
        during = sum(1 for o in outcomes if began <= o.at <= back + 1)
        still_posting = not posting.done()
        await posting
        # Accepts succeed again by themselves (the first 202 after the restart, from the load
        # still running or else a probe), and keep succeeding.
        first_after = [o.at for o in outcomes if o.status == 202 and o.at >= back]
        api_recover = (round(min(first_after) - back, 2) if first_after
                       else await _first_accept(svc, back, 15, outcomes))
        after = await post_many(svc.base, svc.keys["sender"], addresses("pgafter", 50))
        outcomes += after
        accepted = {o.address for o in outcomes if o.status == 202}
        recover = await wait_delivered(mailbox, accepted, back, 60)
        unsettled = await settle(svc.dsn, 20 if recover is not None else 0)
    statuses = await status_counts(svc.dsn)
    figures = tally(mailbox, accepted)
    bad_503 = [o for o in outcomes if o.status == 503 and not (
        o.retry_after and (o.problem_type or "").endswith("/service-unavailable"))]
    line = figures.line("postgres_restart_accepts", recover, answers=answers(outcomes),
                        answered_during_restart=during, pg_away_seconds=round(away, 2),
                        api_recover_seconds=api_recover, unsettled=unsettled, statuses=statuses,
                        worker_restarts=svc.worker_restarts)
    record(line)
    odd = [o for o in outcomes if o.status not in (202, 503)]
    verdict(svc, line, [
        (still_posting, "accepts still running when the restart was over (else no overlap)"),
        (not odd, f"every answer 202 or 503; {len(odd)} were not, e.g. {odd[:3]}"),
        (not bad_503, "every 503 has Retry-After and a .../service-unavailable type;"
                      f" {len(bad_503)} did not, e.g. {bad_503[:3]}"),
        (api_recover is not None, "a new accept within 15 s of the restart"),
        (len({o.address for o in outcomes if o.address.startswith("patient+pgacc")
              and o.status == 202}) == 800,
         "every reminder accepted in the end by a client that honours Retry-After"),
        (all(o.status == 202 for o in after), f"accepts after recovery all 202: {answers(after)}"),
        (figures.lost == 0, "lost == 0"),
        (recover is not None, "all delivered within 60 s of the restart"),
        (figures.duplicates == 0, "duplicates == 0"),
    ])


async def test_postgres_restart_during_delivery(svc: Service, pg: PgCluster) -> None:
    svc.start_api()
    mailbox = svc.relay.mailbox
    outcomes = await post_many(svc.base, svc.keys["sender"], addresses("pgbacklog", 1500))
    accepted = {o.address for o in outcomes if o.status == 202}
    assert len(accepted) == len(outcomes), f"{answers(outcomes)}\n{svc.report()}"

    svc.start_worker()
    async with supervisor(svc):
        await wait_count(mailbox, len(accepted) // 4, 40, alive=svc)
        at_restart = delivered_count(mailbox)
        away = await asyncio.to_thread(pg.restart)
        back = time.monotonic()
        recover = await wait_delivered(mailbox, accepted, back, 60)
        unsettled = await settle(svc.dsn, 20 if recover is not None else 0)
    statuses = await status_counts(svc.dsn)
    figures = tally(mailbox, accepted)
    line = figures.line("postgres_restart_delivery", recover, delivered_at_restart=at_restart,
                        pg_away_seconds=round(away, 2), unsettled=unsettled, statuses=statuses,
                        worker_restarts=svc.worker_restarts)
    record(line)
    verdict(svc, line, [
        (at_restart < len(accepted), "some mail still to deliver at the restart"),
        (figures.lost == 0, "lost == 0"),
        (recover is not None, "all delivered within 60 s of the restart"),
        (figures.duplicates == 0, "duplicates == 0"),
        (figures.unexpected == 0, "unexpected == 0"),
    ])


async def _first_accept(svc: Service, since: float, limit: float,
                        outcomes: list[Outcome]) -> float | None:
    """Seconds from ``since`` until a new reminder is accepted, or None after ``limit``; the
    answers join ``outcomes``."""
    async with httpx.AsyncClient(base_url=svc.base, timeout=5) as client:
        for address in addresses("pgprobe", 1000):
            if time.monotonic() - since > limit:
                break
            outcome = await post_reminder(client, svc.keys["sender"], address)
            outcomes.append(outcome)
            if outcome.status == 202:
                return round(time.monotonic() - since, 2)
            await asyncio.sleep(0.2)
    return None



async def test_a_worker_started_while_postgres_is_down_waits_for_it(
    svc: Service, pg: PgCluster,
) -> None:
    """A worker (re)started during a database restart does not exit and crash-loop: it starts
    its arq worker again every second and delivers once PostgreSQL is back."""
    svc.start_api()
    outcomes = await post_many(svc.base, svc.keys["sender"], addresses("pgdown", 100))
    accepted = {o.address for o in outcomes if o.status == 202}
    assert len(accepted) == len(outcomes), f"{answers(outcomes)}\n{svc.report()}"
    await asyncio.to_thread(pg.stop)
    try:
        svc.start_worker()
        await asyncio.sleep(3)
        alive = svc.worker is not None and svc.worker.poll() is None
    finally:
        await asyncio.to_thread(pg.start)
    back = time.monotonic()
    recover = await wait_delivered(svc.relay.mailbox, accepted, back, 60)
    figures = tally(svc.relay.mailbox, accepted)
    line = figures.line("worker_started_without_postgres", recover, worker_alive=alive)
    record(line)
    verdict(svc, line, [
        (alive, "the worker process was still running after 3 s without PostgreSQL"),
        (figures.lost == 0, "lost == 0"),
        (recover is not None, "all delivered within 60 s of PostgreSQL's return"),
        (figures.duplicates == 0, "duplicates == 0"),
    ])
