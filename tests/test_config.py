"""Settings: read once from the environment; bad values stop start-up with one clear line."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import pytest

from service.core.config import ConfigError, Settings

KEY = base64.b64encode(b"k" * 32).decode()


def test_defaults_follow_the_contract(
    tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    settings = Settings.from_env({"MASTER_KEYS": f"a1:{KEY}"})
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_tls) == (
        "127.0.0.1",
        587,
        "starttls",
    )
    assert settings.public_base_url == "http://127.0.0.1:8000"
    assert settings.keyring.active == "a1"


def test_first_master_key_is_active_and_others_stay_readable() -> None:
    other = base64.b64encode(b"o" * 32).decode()
    settings = Settings.from_env({"MASTER_KEYS": f"new:{KEY},old:{other}"})
    assert settings.keyring.active == "new"
    assert set(settings.keyring.keys) == {"new", "old"}


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"MASTER_KEYS": "k1:" + base64.b64encode(b"short").decode()}, "MASTER_KEYS"),
        ({"MASTER_KEYS": "k1:not base64!!"}, "MASTER_KEYS"),
        ({"MASTER_KEYS": "no-separator"}, "MASTER_KEYS"),
        ({"MASTER_KEYS": f"k1:{KEY},k1:{KEY}"}, "MASTER_KEYS"),
        ({"SMTP_TLS": "none"}, "SMTP_TLS"),
        ({"SMTP_TLS": "plain"}, "SMTP_TLS"),
        ({"SMTP_PORT": "eighty"}, "SMTP_PORT"),
        ({"SMTP_PORT": "70000"}, "SMTP_PORT"),
        ({"SMTP_CA_FILE": "/nonexistent/ca.pem"}, "SMTP_CA_FILE"),
        ({"PUBLIC_BASE_URL": "portal.example.org"}, "PUBLIC_BASE_URL"),
        ({"SERVICE_ENV": "production", "MASTER_KEYS": f"k1:{KEY}"}, "MAIL_FROM"),
        ({"SERVICE_ENV": "production", "MAIL_FROM": "a@b.org"}, "MASTER_KEYS"),
        ({"SERVICE_ENV": "production", "MAIL_FROM": "a@b.org", "MARKETING_ENABLED": "false"},
         "CLINIC_PHONE"),
        ({"CLINIC_PHONE": "call us"}, "CLINIC_PHONE"),
        ({"CLINIC_PHONE": "+1 555 0100\" onclick=\"x"}, "CLINIC_PHONE"),
        ({"CLINIC_WEBSITE": "javascript:alert(1)"}, "CLINIC_WEBSITE"),
        ({"CLINIC_WEBSITE": "https://user@evil.example"}, "CLINIC_WEBSITE"),
        ({"CLINIC_LOGO_FILE": "/nonexistent/logo.png"}, "CLINIC_LOGO_FILE"),
        ({"CLINIC_LOGO_FILE": __file__}, "CLINIC_LOGO_FILE"),
        ({"CLINIC_CONTACT": "+1 555 0100"}, "CLINIC_CONTACT"),
        ({"RETENTION_DAYS": "29"}, "RETENTION_DAYS"),
        ({"RETENTION_DAYS": "-1"}, "RETENTION_DAYS"),
        # Shorter than a link lives (60 days here).
        ({"RETENTION_DAYS": "59", "PORTAL_TTL_SECONDS": str(60 * 86400)}, "RETENTION_DAYS"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(
            {"MASTER_KEYS": f"k1:{KEY}", **env}
            if "MASTER_KEYS" not in env and variable != "MASTER_KEYS"
            else env
        )
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable)


@pytest.mark.parametrize(("env", "days"), [
    ({}, 0),
    ({"RETENTION_DAYS": "0"}, 0),
    ({"RETENTION_DAYS": "30"}, 30),
    ({"RETENTION_DAYS": "60", "PORTAL_TTL_SECONDS": str(60 * 86400)}, 60),
    ({"RETENTION_DAYS": "61", "PORTAL_TTL_SECONDS": str(60 * 86400 + 1)}, 61),
])
def test_retention_days_keep_every_message_or_outlive_the_links(
    env: dict[str, str], days: int,
) -> None:
    assert Settings.from_env({"MASTER_KEYS": f"k1:{KEY}", **env}).retention_days == days


def test_secrets_are_not_in_repr() -> None:
    settings = Settings.from_env({"MASTER_KEYS": f"k1:{KEY}", "SMTP_PASSWORD": "hunter2-relay"})
    assert KEY not in repr(settings)
    assert "hunter2-relay" not in repr(settings)


def test_malformed_setting_stops_startup_with_one_line(tmp_path: object) -> None:
    env = {**os.environ, "MASTER_KEYS": "k1:" + base64.b64encode(b"x" * 16).decode()}
    result = subprocess.run(
        [sys.executable, "-m", "service", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "configuration error: MASTER_KEYS: entry 1 must decode to 32 bytes"
    ]
    assert "Traceback" not in result.stderr
