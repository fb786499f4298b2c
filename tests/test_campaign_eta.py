"""A campaign's ETA: the pacing arithmetic as a table, and a paced campaign run by a real
worker through the real relay, whose finish the ETA read just after the start foretells within
10%."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx
import pytest
from starlette.applications import Starlette

from service.campaigns.pacing import Pace, eta_seconds, progress
from service.core.config import Settings
from service.devtools.relay import Mailbox
from tests.campaign_setup import audience_csv, authorize_all, create, marketer_key_id, upload
from tests.conftest import background_worker
from tests.helpers import auth


def pace(rate: float = 10, relay: int = 0, start_in: float | None = 0.0,
         last_due_in: float | None = None) -> Pace:
    return Pace(rate, relay, start_in, last_due_in)


@pytest.mark.parametrize(("case", "waiting", "created", "not_fanned_out", "expected"), [
    # Fanned out, nothing sent: the last due time, 39 positions after the start at 10/s.
    (pace(last_due_in=3.9), 40, 40, 0, 4.0),
    # ... unless the pace it can be sent at is slower: 40 at the relay's 5 a second.
    (pace(relay=5, last_due_in=3.9), 40, 40, 0, 8.0),
    # A relay faster than the campaign changes nothing.
    (pace(relay=100, last_due_in=3.9), 40, 40, 0, 4.0),
    # Late in the send the due times lead: 2 left, the last due in 0.15 s.
    (pace(last_due_in=0.15), 2, 40, 0, 0.2),
    # Retrying, due in 10 minutes: that is when the last one goes.
    (pace(last_due_in=600.0), 1, 40, 0, 600.0),
    # Not fanned out yet: its rows take the positions after those made, from the start.
    (pace(start_in=2.0), 0, 0, 40, 5.9),
    # Half fanned out (lanes interleave, so the due times made so far reach 1.9 s): the rest
    # follow the 20 made, the last at position 39.
    (pace(start_in=-1.0, last_due_in=1.9), 5, 20, 20, 2.9),
    # Started a second ago, nothing sent yet: 40 still take 4 s at 10 a second.
    (pace(start_in=-1.0), 0, 0, 40, 4.0),
    # Scheduled an hour ahead, nothing fanned out: the hour, then the send.
    (pace(start_in=3600.0), 0, 0, 40, 3603.9),
    # Nothing left.
    (pace(last_due_in=None), 0, 40, 0, 0.0),
])
def test_eta_is_the_latest_due_time_or_the_sustainable_pace(
    case: Pace, waiting: int, created: int, not_fanned_out: int, expected: float,
) -> None:
    assert eta_seconds(case, waiting, created, not_fanned_out) == pytest.approx(expected)


def test_progress_has_an_eta_only_while_running_or_when_nothing_is_left() -> None:
    statuses = {"queued": 30, "sent": 8, "bounced": 2}
    running = progress(42, {"opted_out": 2}, statuses, 60, pace(last_due_in=2.95), active=True)
    assert (running.eta_seconds, running.bounced, running.current_rate) == (3.0, 2, 1.0)
    assert progress(42, {"opted_out": 2}, statuses, 0, pace(), active=False).eta_seconds is None
    ended = progress(10, {}, {"sent": 10}, 0, pace(), active=False)
    assert ended.eta_seconds == 0.0


@pytest.mark.parametrize(("rate", "relay_max"), [(10, 0), (20, 8)])
async def test_the_eta_read_after_the_start_foretells_the_finish(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox, rate: int, relay_max: int,
) -> None:
    """40 recipients at ``rate`` a second, through a relay capped at ``relay_max`` (0: none)."""
    readers = [f"paced{n}@example.org" for n in range(40)]
    await authorize_all(app, readers, await marketer_key_id(app))
    campaign = await create(client, keys["marketer"], rate_per_second=rate)
    await upload(client, keys["marketer"], campaign, audience_csv(readers))
    capped = replace(settings, smtp_max_rate=relay_max)
    app.state.resources = replace(app.state.resources, settings=capped)
    loop = asyncio.get_running_loop()
    async with background_worker(capped, poll_delay=0.02):
        sent = await client.post(f"/v1/campaigns/{campaign}/send", headers=auth(keys["marketer"]))
        assert sent.status_code == 202
        while True:  # read as soon as the fan-out has given every message its due time
            shown = (await client.get(f"/v1/campaigns/{campaign}",
                                      headers=auth(keys["marketer"]))).json()
            if shown["status"] == "sending":
                break
            await asyncio.sleep(0.02)
        read_at, eta = loop.time(), shown["progress"]["eta_seconds"]
        assert shown["progress"]["sent"] < 5
        while len(mailbox.messages) < 40:
            assert loop.time() - read_at < 30
            await asyncio.sleep(0.01)
        took = loop.time() - read_at
    assert eta == pytest.approx(took, rel=0.10), (eta, took)
