"""MARKETING_ENABLED=false: no campaign and no marketing send, while reminders go on; in
production with marketing on, DKIM and a postal address are required."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from service.access import create_api_key
from service.core.config import ConfigError, Settings
from tests.conftest import serving
from tests.helpers import REMINDER, auth, send


@pytest.fixture
async def off(settings: Settings) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    async with serving(replace(settings, marketing_enabled=False)) as served:
        yield served


async def test_marketing_is_refused_and_reminders_are_not(
    off: tuple[Starlette, httpx.AsyncClient],
) -> None:
    app, client = off
    db = app.state.resources.db
    sender = await create_api_key(db, "sender", "ehr")
    marketer = await create_api_key(db, "marketer", "m")
    campaign = await client.post("/v1/campaigns", headers=auth(marketer), json={
        "name": "n", "subject": "Our Spring Newsletter", "content": "x", "rate_per_second": 1})
    assert (campaign.status_code, campaign.json()["type"].rsplit("/", 1)[-1]) == (
        403, "marketing-disabled")
    marketing = await send(client, sender, {**REMINDER, "purpose": "marketing"})
    assert marketing.status_code == 403
    assert (await send(client, sender)).status_code == 202


@pytest.mark.parametrize("missing", ["DKIM_DOMAIN", "DKIM_SELECTOR", "DKIM_KEY_FILE",
                                     "CLINIC_POSTAL_ADDRESS"])
def test_production_marketing_needs_dkim_and_an_address(
    missing: str, tmp_path: Path,
) -> None:
    key = tmp_path / "dkim.pem"
    key.write_text("k")
    env = {"SERVICE_ENV": "production", "MAIL_FROM": "a@clinic.test",
           "MASTER_KEYS": "k1:" + "A" * 43 + "=", "DKIM_DOMAIN": "clinic.test",
           "DKIM_SELECTOR": "s1", "DKIM_KEY_FILE": str(key),
           "CLINIC_POSTAL_ADDRESS": "1 Main St, Springfield", "CLINIC_PHONE": "+1 555 0100"}
    assert Settings.from_env(env).marketing_enabled
    with pytest.raises(ConfigError, match=missing):
        Settings.from_env({**env, missing: ""})
    assert not Settings.from_env({**env, missing: "", "MARKETING_ENABLED": "false"}
                                 ).marketing_enabled
