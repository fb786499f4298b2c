"""One immutable settings object, read from the environment once at the entry point."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from service.core.clinic import Clinic, Logo, read_logo, read_phone, read_website
from service.core.crypto import Keyring
from service.core.redis_url import RedisUrlError, parse_redis_url
from service.core.setting_values import ConfigError as ConfigError
from service.core.setting_values import RateLimit as RateLimit
from service.core.setting_values import parse_master_keys as parse_master_keys
from service.core.setting_values import (
    read_choice,
    read_existing_file,
    read_int,
    read_keyring,
    read_rate_limit,
)

log = logging.getLogger(__name__)

SmtpTls = Literal["starttls", "implicit"]
RequireTls = Literal["auto", "required"]
SubjectMode = Literal["detector", "strict", "allowlist"]

# The most fan-out lanes a campaign may run in (FANOUT_LANES).
MAX_FANOUT_LANES = 16
# The shortest RETENTION_DAYS: CAN-SPAM wants an unsubscribe link honoured for 30 days after
# the email was sent, and a bounce or complaint can take days to come back.
MIN_RETENTION_DAYS = 30


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
    # How a patient reaches the clinic, shown on every page and in every email.
    clinic_phone: str | None = None
    clinic_website: str | None = None
    # The logo every page shows, served by the service itself (core/clinic.py checks it).
    clinic_logo: Logo | None = field(default=None, repr=False)
    # Campaigns and marketing sends; in production they need DKIM and CLINIC_POSTAL_ADDRESS.
    marketing_enabled: bool = True
    # Per API key, by its role; None: unlimited. High enough for a clinic group's nightly burst
    # of reminders from one key; a runaway client is slowed before the database is.
    rate_limit_sender: RateLimit | None = RateLimit(200, 1, 400)
    rate_limit_marketer: RateLimit | None = RateLimit(100, 1, 200)
    rate_limit_admin: RateLimit | None = RateLimit(50, 1, 100)
    # Group commit of accepted messages: a request waits at most this long for others to share
    # its INSERT and commit (0: only those of the same turn of the event loop), and a batch
    # holds at most this many.
    accept_batch_max_wait_ms: int = 2
    accept_batch_max: int = 64
    # Webhook endpoints on loopback and private networks (tests, on-premises receivers).
    webhook_allow_private: bool = False
    # Waits before each webhook retry, then it fails (Svix's: 27.6 h); tests pass a short one.
    webhook_retry_seconds: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    # An endpoint whose every attempt failed this long is disabled until an admin enables it.
    webhook_disable_after_seconds: float = 5 * 24 * 3600
    # Message rows (with their events, and a finished campaign's audience) are deleted this many
    # days after they were accepted and sent, once final and their link expired; 0 keeps them.
    # Audit records are never deleted by it.
    retention_days: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        defaults = cls()
        env = dict(_read_dotenv(Path(".env")))
        env.update(os.environ if environ is None else environ)
        production = read_choice(env, "SERVICE_ENV", ("development", "production"), "development")
        is_prod = production == "production"
        mail_from = env.get("MAIL_FROM")
        if is_prod and not mail_from:
            raise ConfigError("MAIL_FROM", "is required when SERVICE_ENV=production")
        if "CLINIC_CONTACT" in env:  # an older setting, refused rather than ignored
            raise ConfigError("CLINIC_CONTACT", "was replaced by CLINIC_PHONE and CLINIC_WEBSITE")
        settings = cls(
            database_url=env.get("DATABASE_URL", defaults.database_url),
            redis_url=_redis_url(env, defaults.redis_url),
            smtp_host=env.get("SMTP_HOST", defaults.smtp_host),
            smtp_port=read_int(env, "SMTP_PORT", defaults.smtp_port, 1, 65535),
            smtp_tls=read_choice(env, "SMTP_TLS", ("starttls", "implicit"), "starttls"),  # type: ignore[arg-type]
            smtp_ca_file=read_existing_file(env, "SMTP_CA_FILE"),
            smtp_username=env.get("SMTP_USERNAME") or None,
            smtp_password=env.get("SMTP_PASSWORD") or None,
            smtp_pool_size=read_int(env, "SMTP_POOL_SIZE", defaults.smtp_pool_size, 1, 100),
            smtp_max_rate=read_int(env, "SMTP_MAX_RATE", defaults.smtp_max_rate, 0, 100_000),
            mail_from=mail_from or defaults.mail_from,
            clinic_name=env.get("CLINIC_NAME", defaults.clinic_name),
            public_base_url=_base_url(env),
            keyring=read_keyring(env, is_prod),
            production=is_prod,
            queue_name=env.get("QUEUE_NAME", defaults.queue_name),
            worker_concurrency=read_int(
                env, "WORKER_CONCURRENCY", defaults.worker_concurrency, 1, 1000
            ),
            retry_give_up_seconds=read_int(
                env, "RETRY_GIVE_UP_SECONDS", defaults.retry_give_up_seconds, 60, 30 * 24 * 3600
            ),
            portal_ttl_seconds=read_int(
                env, "PORTAL_TTL_SECONDS", defaults.portal_ttl_seconds, 60, 365 * 24 * 3600
            ),
            metrics_min_cell=read_int(
                env, "METRICS_MIN_CELL", defaults.metrics_min_cell, 2, 1000
            ),
            tracking_machine_seconds=read_int(
                env, "TRACKING_MACHINE_SECONDS", defaults.tracking_machine_seconds, 0, 3600
            ),
            fanout_lanes=read_int(env, "FANOUT_LANES", defaults.fanout_lanes, 1, MAX_FANOUT_LANES),
            audience_max_bytes=read_int(
                env, "AUDIENCE_MAX_BYTES", defaults.audience_max_bytes, 64 * 1024, 1024**3
            ),
            subject_mode=read_choice(env, "SUBJECT_MODE", get_args(SubjectMode), "detector"),  # type: ignore[arg-type]
            api_host=env.get("API_HOST") or defaults.api_host,
            api_port=read_int(env, "API_PORT", defaults.api_port, 1, 65535),
            worker_heartbeat_file=env.get("WORKER_HEARTBEAT_FILE")
            or defaults.worker_heartbeat_file,
            dev_relay_port=read_int(env, "DEV_RELAY_PORT", defaults.dev_relay_port, 1, 65535),
            smtp_requiretls=read_choice(env, "SMTP_REQUIRETLS", ("auto", "required"), "auto"),  # type: ignore[arg-type]
            dkim_domain=env.get("DKIM_DOMAIN") or None,
            dkim_selector=env.get("DKIM_SELECTOR") or None,
            # Read (and checked) by the worker's signer only: other roles need not hold the key.
            dkim_key_file=env.get("DKIM_KEY_FILE") or None,
            dkim_ed25519_selector=env.get("DKIM_ED25519_SELECTOR") or None,
            dkim_ed25519_key_file=env.get("DKIM_ED25519_KEY_FILE") or None,
            bounce_domain=env.get("BOUNCE_DOMAIN") or None,
            inbound_tls_cert=read_existing_file(env, "INBOUND_TLS_CERT"),
            inbound_tls_key=read_existing_file(env, "INBOUND_TLS_KEY"),
            clinic_postal_address=env.get("CLINIC_POSTAL_ADDRESS") or None,
            clinic_phone=read_phone(env.get("CLINIC_PHONE")),
            clinic_website=read_website(env.get("CLINIC_WEBSITE")),
            clinic_logo=read_logo(env.get("CLINIC_LOGO_FILE")),
            marketing_enabled=read_choice(env, "MARKETING_ENABLED", ("true", "false"), "true")
            == "true",
            rate_limit_sender=read_rate_limit(env, "RATE_LIMIT_SENDER", defaults.rate_limit_sender),
            rate_limit_marketer=read_rate_limit(
                env, "RATE_LIMIT_MARKETER", defaults.rate_limit_marketer
            ),
            rate_limit_admin=read_rate_limit(env, "RATE_LIMIT_ADMIN", defaults.rate_limit_admin),
            accept_batch_max_wait_ms=read_int(
                env, "ACCEPT_BATCH_MAX_WAIT_MS", defaults.accept_batch_max_wait_ms, 0, 50
            ),
            accept_batch_max=read_int(env, "ACCEPT_BATCH_MAX", defaults.accept_batch_max, 1, 1000),
            webhook_allow_private=read_choice(env, "WEBHOOK_ALLOW_PRIVATE", ("true", "false"),
                                          "false") == "true",
            retention_days=read_int(env, "RETENTION_DAYS", defaults.retention_days, 0, 36500),
        )
        settings._check_retention()
        settings._check_production()
        return settings


    @property
    def clinic(self) -> Clinic:
        return Clinic(self.clinic_name, self.clinic_phone, self.clinic_website,
                      self.clinic_postal_address, self.clinic_logo is not None)

    def _check_retention(self) -> None:
        # A link must work for as long as it says it does.
        shortest = max(MIN_RETENTION_DAYS, -(-self.portal_ttl_seconds // (24 * 3600)))
        if 0 < self.retention_days < shortest:
            raise ConfigError("RETENTION_DAYS", f"must be 0 (keep every message) or at least "
                                                f"{shortest} ({MIN_RETENTION_DAYS}, and "
                                                f"PORTAL_TTL_SECONDS in days)")

    def _check_production(self) -> None:
        if not self.production:
            return
        if not (self.clinic_phone or self.clinic_website):
            # Every page and email tells a patient whom to call about it.
            raise ConfigError("CLINIC_PHONE", "or CLINIC_WEBSITE is required when "
                                              "SERVICE_ENV=production")
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


