"""A worker SIGKILLed mid-send: its claimed rows come back after the 15 s lease, nothing is lost,
and at most one mail per pooled SMTP session (those the relay may have taken before the sent
mark) goes out twice, with the same Message-ID, and is counted by the possible-duplicates metric.
"""

from __future__ import annotations

import time

import httpx

from tests.campaign_setup import audience_csv, create, upload
from tests.faults.harness import (
    POOL_SIZE,
    Service,
    addresses,
    answers,
    authorize_marketing,
    delivered_count,
    possible_duplicates_metric,
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
from tests.helpers import auth


async def test_worker_sigkill_mid_stream(svc: Service) -> None:
    svc.start_api()
    outcomes = await post_many(svc.base, svc.keys["sender"], addresses("crash", 300))
    accepted = {o.address for o in outcomes if o.status == 202}
    assert len(accepted) == len(outcomes), f"{answers(outcomes)}\n{svc.report()}"

    svc.start_worker()
    await _kill_and_check(svc, "worker_sigkill_stream", accepted)


async def test_worker_sigkill_mid_campaign(svc: Service) -> None:
    recipients = addresses("camp", 1500)
    await authorize_marketing(svc, recipients)
    svc.start_api()
    svc.start_worker()
    key = svc.keys["marketer"]
    async with httpx.AsyncClient(base_url=svc.base, timeout=60) as client:
        campaign = await create(client, key, rate_per_second=10000)
        report = await upload(client, key, campaign, audience_csv(recipients))
        assert report["accepted"] == len(recipients), report
        sent = await client.post(f"/v1/campaigns/{campaign}/send", headers=auth(key))
        assert sent.status_code == 202, sent.text
    await _kill_and_check(svc, "worker_sigkill_campaign", set(recipients))


async def _kill_and_check(svc: Service, name: str, accepted: set[str]) -> None:
    mailbox = svc.relay.mailbox
    await wait_count(mailbox, len(accepted) // 3, 40, alive=svc)
    svc.kill_worker()
    at_kill = delivered_count(mailbox)
    assert at_kill < len(accepted), f"all {at_kill} were delivered before the kill: too fast"

    svc.start_worker()
    restarted = time.monotonic()
    async with supervisor(svc):
        recover = await wait_delivered(mailbox, accepted, restarted, 60)
        # A re-send after the lease ran out counts as the duplicate it is: wait for it.
        unsettled = await settle(svc.dsn, 20 if recover is not None else 0)
    statuses = await status_counts(svc.dsn)
    figures = tally(mailbox, accepted)
    metric = await possible_duplicates_metric(svc.base, svc.keys["admin"])
    line = figures.line(name, recover, delivered_at_kill=at_kill, possible_duplicates=metric,
                        unsettled=unsettled, statuses=statuses, worker_restarts=svc.worker_restarts)
    record(line)
    verdict(svc, line, [
        (figures.lost == 0, "lost == 0"),
        (recover is not None, "all delivered within 60 s of the restart"),
        (figures.unexpected == 0, "unexpected == 0"),
        (figures.duplicates <= POOL_SIZE, f"duplicates <= POOL_SIZE ({POOL_SIZE})"),
        (figures.missing_message_id == 0, "every mail has a Message-ID"),
        # A re-send carries its first send's Message-ID: duplicates by id are those by address.
        (figures.duplicates_by_message_id == figures.duplicates,
         "a re-send carries the same Message-ID (duplicates_by_message_id == duplicates)"),
        (metric is not None, "hipaa_mail_possible_duplicates_total is on /metrics"),
        (metric is None or figures.duplicates_by_message_id <= metric,
         "duplicates_by_message_id <= possible_duplicates"),
    ])
