"""One immutable settings object, read from the environment once at the entry point."""

from __future__ import annotations

import base64
import binascii
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from service.core.crypto import Keyring
from service.core.redis_url import RedisUrlError, parse_redis_url

log = logging.getLogger(__name__)

SmtpTls = Literal["starttls", "implicit"]
RequireTls = Literal["auto", "required"]
SubjectMode = Literal["detector", "allowlist"]

DEV_KEYS_FILE = Path(".dev/master-keys")
# The most fan-out lanes a campaign may run in (FANOUT_LANES).
MAX_FANOUT_LANES = 16


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable and never its value."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    redis_url: str = "redis://127.0.0.1:6379/0"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 587
    smtp_tls: SmtpTls = "starttls"
    smtp_ca_file: str | None = None
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_pool_size: int = 4
    # Messages a second into the relay, across all workers; 0 leaves it to the relay.
    smtp_max_rate: int = 0
    smtp_timeout: float = 30.0
    mail_from: str = "no-reply@localhost"
    clinic_name: str = "Your care team"
    public_base_url: str = "http://127.0.0.1:8000"
    keyring: Keyring = field(default_factory=Keyring.generate, repr=False)
    production: bool = False
    queue_name: str = "hipaa-mail:queue"
    worker_concurrency: int = 32
    content_max_bytes: int = 64 * 1024
    body_max_bytes: int = 256 * 1024
    # A CSV audience upload: 1,000,000 rows (the row cap) of about 100 bytes fit.
    audience_max_bytes: int = 100 * 1024 * 1024
    portal_ttl_seconds: int = 30 * 24 * 3600
    verification_max_failures: int = 5
    retry_give_up_seconds: int = 48 * 3600
    subject_mode: SubjectMode = "detector"
    # Smallest count shown as it is; 1 .. k-1 become "<k" (CMS cell-size suppression).
    metrics_min_cell: int = 11
    # An open or click this soon after the email was composed is a machine's (Apple Mail Privacy
    # Protection, link scanners): no one reads that fast.
    tracking_machine_seconds: int = 30
    # A campaign's fan-out runs as this many jobs side by side, each on its own connection.
    fanout_lanes: int = 2
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # Touched every few seconds by a live worker; ``worker --check`` reads it. A fixed name in
    # /tmp is safe here: the file is only touched (created, never written or truncated) and
    # only its mtime is read.
    worker_heartbeat_file: str = "/tmp/hipaa-mail-worker.heartbeat"  # noqa: S108 # nosec B108
    # The local STARTTLS relay of ``python -m service dev``.
    dev_relay_port: int = 2525
    # RFC 8689: ask relays that advertise REQUIRETLS for it; "required" refuses those that don't.
    smtp_requiretls: RequireTls = "auto"
    # DKIM (RFC 6376): rsa-sha256 with DKIM_KEY_FILE, plus ed25519-sha256 (RFC 8463) when
    # DKIM_ED25519_KEY_FILE is set too. Unset domain: no signature.
    dkim_domain: str | None = None
    dkim_selector: str | None = None
    dkim_key_file: str | None = None
    dkim_ed25519_selector: str | None = None
    dkim_ed25519_key_file: str | None = None
    # Per-message return paths bounce+<opaque>@BOUNCE_DOMAIN, read back by ``inbound``.
    bounce_domain: str | None = None
    # Certificate and key ``inbound`` offers with STARTTLS; unset: a self-signed one per start.
    inbound_tls_cert: str | None = None
    inbound_tls_key: str | None = None
    # CAN-SPAM: a marketing email shows the sender's postal address.
    clinic_postal_address: str | None = None
    # How a patient reaches the clinic, shown in reminders (a phone number or a web address).
    clinic_contact: str | None = None
    # Campaigns and marketing sends; in production they need DKIM and CLINIC_POSTAL_ADDRESS.
    marketing_enabled: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        defaults = cls()
        env = dict(_read_dotenv(Path(".env")))
        env.update(os.environ if environ is None else environ)
        production = _choice(env, "SERVICE_ENV", ("development", "production"), "development")
        is_prod = production == "production"
        mail_from = env.get("MAIL_FROM")
        if is_prod and not mail_from:
            raise ConfigError("MAIL_FROM", "is required when SERVICE_ENV=production")
        settings = cls(
            database_url=env.get("DATABASE_URL", defaults.database_url),
            redis_url=_redis_url(env, defaults.redis_url),
            smtp_host=env.get("SMTP_HOST", defaults.smtp_host),
            smtp_port=_int(env, "SMTP_PORT", defaults.smtp_port, 1, 65535),
            smtp_tls=_choice(env, "SMTP_TLS", ("starttls", "implicit"), "starttls"),  # type: ignore[arg-type]
            smtp_ca_file=_existing_file(env, "SMTP_CA_FILE"),
            smtp_username=env.get("SMTP_USERNAME") or None,
            smtp_password=env.get("SMTP_PASSWORD") or None,
            smtp_pool_size=_int(env, "SMTP_POOL_SIZE", defaults.smtp_pool_size, 1, 100),
            smtp_max_rate=_int(env, "SMTP_MAX_RATE", defaults.smtp_max_rate, 0, 100_000),
            mail_from=mail_from or defaults.mail_from,
            clinic_name=env.get("CLINIC_NAME", defaults.clinic_name),
            public_base_url=_base_url(env),
            keyring=_keyring(env, is_prod),
            production=is_prod,
            queue_name=env.get("QUEUE_NAME", defaults.queue_name),
            worker_concurrency=_int(
                env, "WORKER_CONCURRENCY", defaults.worker_concurrency, 1, 1000
            ),
            retry_give_up_seconds=_int(
                env, "RETRY_GIVE_UP_SECONDS", defaults.retry_give_up_seconds, 60, 30 * 24 * 3600
            ),
            portal_ttl_seconds=_int(
                env, "PORTAL_TTL_SECONDS", defaults.portal_ttl_seconds, 60, 365 * 24 * 3600
            ),
            metrics_min_cell=_int(
                env, "METRICS_MIN_CELL", defaults.metrics_min_cell, 2, 1000
            ),
            tracking_machine_seconds=_int(
                env, "TRACKING_MACHINE_SECONDS", defaults.tracking_machine_seconds, 0, 3600
            ),
            fanout_lanes=_int(env, "FANOUT_LANES", defaults.fanout_lanes, 1, MAX_FANOUT_LANES),
            audience_max_bytes=_int(
                env, "AUDIENCE_MAX_BYTES", defaults.audience_max_bytes, 64 * 1024, 1024**3
            ),
            subject_mode=_choice(env, "SUBJECT_MODE", ("detector", "allowlist"), "detector"),  # type: ignore[arg-type]
            api_host=env.get("API_HOST") or defaults.api_host,
            api_port=_int(env, "API_PORT", defaults.api_port, 1, 65535),
            worker_heartbeat_file=env.get("WORKER_HEARTBEAT_FILE")
            or defaults.worker_heartbeat_file,
            dev_relay_port=_int(env, "DEV_RELAY_PORT", defaults.dev_relay_port, 1, 65535),
            smtp_requiretls=_choice(env, "SMTP_REQUIRETLS", ("auto", "required"), "auto"),  # type: ignore[arg-type]
            dkim_domain=env.get("DKIM_DOMAIN") or None,
            dkim_selector=env.get("DKIM_SELECTOR") or None,
            # Read (and checked) by the worker's signer only: other roles need not hold the key.
            dkim_key_file=env.get("DKIM_KEY_FILE") or None,
            dkim_ed25519_selector=env.get("DKIM_ED25519_SELECTOR") or None,
            dkim_ed25519_key_file=env.get("DKIM_ED25519_KEY_FILE") or None,
            bounce_domain=env.get("BOUNCE_DOMAIN") or None,
            inbound_tls_cert=_existing_file(env, "INBOUND_TLS_CERT"),
            inbound_tls_key=_existing_file(env, "INBOUND_TLS_KEY"),
            clinic_postal_address=env.get("CLINIC_POSTAL_ADDRESS") or None,
            clinic_contact=env.get("CLINIC_CONTACT") or None,
            marketing_enabled=_choice(env, "MARKETING_ENABLED", ("true", "false"), "true")
            == "true",
        )
        settings._check_production()
        return settings


    def _check_production(self) -> None:
        if not self.production:
            return
        if self.marketing_enabled:
            # Gmail and Yahoo refuse unsigned bulk mail; CAN-SPAM wants the postal address.
            for variable, value in (("DKIM_DOMAIN", self.dkim_domain),
                                    ("DKIM_SELECTOR", self.dkim_selector),
                                    ("DKIM_KEY_FILE", self.dkim_key_file),
                                    ("CLINIC_POSTAL_ADDRESS", self.clinic_postal_address)):
                if not value:
                    raise ConfigError(variable, "is required when SERVICE_ENV=production and "
                                                "MARKETING_ENABLED=true")
        if bool(self.dkim_ed25519_key_file) != bool(self.dkim_ed25519_selector):
            raise ConfigError("DKIM_ED25519_SELECTOR",
                              "and DKIM_ED25519_KEY_FILE are set together or not at all")


def _read_dotenv(path: Path) -> list[tuple[str, str]]:
    if not path.is_file():
        return []
    pairs = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        pairs.append((key.strip(), value.strip().strip("'\"")))
    return pairs


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
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


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = env.get(name) or default
    if value not in allowed:
        raise ConfigError(name, f"must be one of {', '.join(allowed)}")
    return value


def _existing_file(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name) or None
    if value is not None and not Path(value).is_file():
        raise ConfigError(name, "names a file that does not exist")
    return value


def _redis_url(env: Mapping[str, str], default: str) -> str:
    value = env.get("REDIS_URL") or default
    try:
        parsed = parse_redis_url(value)
    except RedisUrlError as exc:
        raise ConfigError("REDIS_URL", str(exc)) from None
    if parsed.ssl_ca_certs and not Path(parsed.ssl_ca_certs).is_file():
        raise ConfigError("REDIS_URL", "ssl_ca_certs names a file that does not exist")
    return value


def _base_url(env: Mapping[str, str]) -> str:
    value = env.get("PUBLIC_BASE_URL") or "http://127.0.0.1:8000"
    if not value.startswith(("https://", "http://")):
        raise ConfigError("PUBLIC_BASE_URL", "must start with https:// or http://")
    return value.rstrip("/")


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


def _keyring(env: Mapping[str, str], production: bool) -> Keyring:
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
