"""How each kind of setting is read from the environment and checked: a malformed value stops
start-up with a ``ConfigError`` naming the variable, never its value. ``config.py`` says which
variables there are; these say what a valid one looks like."""

from __future__ import annotations

import base64
import binascii
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from service.core.crypto import Keyring

log = logging.getLogger(__name__)

DEV_KEYS_FILE = Path(".dev/master-keys")


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable and never its value."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True, slots=True)
class RateLimit:
    """What one API key may ask of the /v1 API: ``count`` requests every ``per_seconds``
    sustained, and up to ``burst`` at once after a quiet spell (``access/rate_limit.py``)."""

    count: int
    per_seconds: int
    burst: int


def read_int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, "must be a whole number") from None
    if not low <= value <= high:
        raise ConfigError(name, f"must be between {low} and {high}")
    return value


def read_choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = env.get(name) or default
    if value not in allowed:
        raise ConfigError(name, f"must be one of {', '.join(allowed)}")
    return value


_RATE_LIMIT = re.compile(r"(\d+)/(s|min)(?:,burst=(\d+))?")
_RATE_UNITS = {"s": 1, "min": 60}
_RATE_MAX = 1_000_000


def read_rate_limit(
    env: Mapping[str, str], name: str, default: RateLimit | None
) -> RateLimit | None:
    """``200/s``, ``600/min``, ``200/s,burst=400``; the burst defaults to the count; ``0``: no
    limit."""
    raw = env.get(name, "").replace(" ", "")
    if raw == "":
        return default
    if raw == "0":
        return None
    match = _RATE_LIMIT.fullmatch(raw)
    if match is None:
        raise ConfigError(name, "must look like 200/s, 600/min or 200/s,burst=400 (0: no limit)")
    count = int(match[1])
    burst = int(match[3]) if match[3] is not None else count
    if not (1 <= count <= _RATE_MAX and 1 <= burst <= _RATE_MAX):
        raise ConfigError(name, f"rate and burst must be between 1 and {_RATE_MAX}")
    return RateLimit(count, _RATE_UNITS[match[2]], burst)


def read_existing_file(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name) or None
    if value is not None and not Path(value).is_file():
        raise ConfigError(name, "names a file that does not exist")
    return value


def parse_master_keys(raw: str) -> Keyring:
    keys: dict[str, bytes] = {}
    for position, entry in enumerate(raw.split(","), start=1):
        kid, sep, encoded = entry.strip().partition(":")
        if not sep or not kid or not kid.isalnum() or len(kid) > 32:
            raise ConfigError("MASTER_KEYS", f"entry {position} must look like kid:base64key")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError("MASTER_KEYS", f"entry {position} is not valid base64") from None
        if len(key) != 32:
            raise ConfigError("MASTER_KEYS", f"entry {position} must decode to 32 bytes")
        if kid in keys:
            raise ConfigError("MASTER_KEYS", f"entry {position} repeats a key id")
        keys[kid] = key
    return Keyring(keys, active=next(iter(keys)))


def read_keyring(env: Mapping[str, str], production: bool) -> Keyring:
    raw = env.get("MASTER_KEYS")
    if raw:
        return parse_master_keys(raw)
    if production:
        raise ConfigError("MASTER_KEYS", "is required when SERVICE_ENV=production")
    # Development only: a key kept in a local file so restarts can still read old messages.
    if not DEV_KEYS_FILE.is_file():
        DEV_KEYS_FILE.parent.mkdir(parents=True, exist_ok=True)
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        DEV_KEYS_FILE.write_text(f"dev1:{key}\n")
        DEV_KEYS_FILE.chmod(0o600)
    log.warning("MASTER_KEYS is not set: using the development keyring in %s", DEV_KEYS_FILE)
    return parse_master_keys(DEV_KEYS_FILE.read_text().strip())
