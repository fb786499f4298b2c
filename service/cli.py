"""``python -m service <verb>``: the operator's entry points (see CONTRACT.md)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from service.access import commands as access_commands
from service.audit import commands as audit_commands
from service.core import logs
from service.core.config import ConfigError, Settings
from service.webhooks import commands as webhook_commands

if TYPE_CHECKING:
    from starlette.applications import Starlette


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service")
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("migrate", help="apply pending database migrations")
    verbs.add_parser("version", help="print the version and the newest migration it carries")
    api = verbs.add_parser("api", help="serve the HTTP API, portal and dashboard")
    api.add_argument("--host", help="address to listen on (default: API_HOST)")
    api.add_argument("--port", type=int, help="port to listen on (default: API_PORT)")
    api.add_argument("--check", action="store_true",
                     help="exit 0 if the API on API_PORT answers /readyz, else 1")
    api.add_argument("--workers", type=_positive, default=1,
                     help="processes serving the one port, each with its own database pool "
                          "(default 1)")
    worker = verbs.add_parser("worker", help="run the delivery worker")
    worker.add_argument("--burst", action="store_true", help="drain the queue and exit")
    worker.add_argument("--check", action="store_true",
                        help="exit 0 if this machine's worker beat in the last 30 s, else 1")
    access_commands.register(verbs)
    webhook_commands.register(verbs)
    audit_commands.register(verbs)
    enrol_totp = verbs.add_parser(
        "enrol-totp",
        help="give an admin or marketer key a new staff-page second factor; prints it once",
    )
    enrol_totp.add_argument("--key-id", required=True,
                            help="the key's public id: the 16 hex digits after 'hm_'")
    inbound = verbs.add_parser("inbound", help="receive bounces and complaints for BOUNCE_DOMAIN")
    inbound.add_argument("--host", default="127.0.0.1")
    inbound.add_argument("--port", type=int, default=2526)
    verbs.add_parser("rotate-keys",
                     help="re-seal every stored value under the first key of MASTER_KEYS")
    check = verbs.add_parser(
        "check-subjects", help="lint subject lines read from stdin",
        description="One line out per line in: 'ok', or 'reject', the category, the refused "
                    "span as start-end code points, and the reason (never the subject's text).")
    check.add_argument("--practice-name", action="append", default=[], metavar="NAME",
                       help="one of the organization's practice names (repeat for more); "
                            "CLINIC_NAME is always used")
    check.add_argument("--strict", action="store_true",
                       help="judge as SUBJECT_MODE=strict does")
    verbs.add_parser("dev", help="run everything locally with a STARTTLS relay")
    keygen = verbs.add_parser("dkim-keygen",
                              help="write a new DKIM private key and print its DNS record")
    keygen.add_argument("--domain", required=True, help="the signing domain (DKIM_DOMAIN)")
    keygen.add_argument("--selector", required=True, help="the selector (DKIM_SELECTOR)")
    keygen.add_argument("--out", required=True, type=Path,
                        help="the private key file to create (never overwritten)")
    keygen.add_argument("--type", choices=("rsa", "ed25519"), default="rsa",
                        help="rsa (2048 bits, the default) or ed25519 (RFC 8463)")
    args = parser.parse_args(argv)

    logs.configure(os.environ.get("LOG_LEVEL", "INFO"))
    if args.verb == "check-subjects":
        return check_subjects(sys.stdin, sys.stdout, args.practice_name, strict=args.strict)
    if args.verb == "version":
        return print_version()
    if args.verb == "dkim-keygen":
        return dkim_keygen(args.domain, args.selector, args.out, args.type)
    try:
        return _run(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.verb == "dev":
        from service.devtools.run import run_dev

        return asyncio.run(run_dev())
    if getattr(args, "standalone", None) is not None:  # loads the settings if it needs them
        return int(args.standalone(args))
    settings = Settings.from_env()
    if getattr(args, "command", None) is not None:
        return int(asyncio.run(args.command(settings, args)))
    if args.verb == "migrate":
        return asyncio.run(_migrate(settings))
    if args.verb == "api" and args.check:
        return check_api(settings)
    if args.verb == "api":
        return serve_api(settings, args.host or settings.api_host, args.port or settings.api_port,
                         args.workers)
    if args.verb == "worker" and args.check:
        from service.worker.heartbeat import check

        problem = check(Path(settings.worker_heartbeat_file))
        print(problem or "worker alive", file=sys.stderr if problem else sys.stdout)
        return 1 if problem else 0
    if args.verb == "worker":
        from service.worker import serve

        # A heartbeat left by a crashed predecessor must not vouch for this worker's start.
        Path(settings.worker_heartbeat_file).unlink(missing_ok=True)
        asyncio.run(serve(settings, burst=args.burst))
        return 0
    if args.verb == "rotate-keys":
        return asyncio.run(_rotate_keys(settings))
    if args.verb == "enrol-totp":
        from service.admin.totp import enrol_command

        return asyncio.run(enrol_command(settings, args.key_id))
    if args.verb == "inbound":
        return serve_inbound(settings, args.host, args.port)
    raise AssertionError(args.verb)


def print_version() -> int:
    from service.db.migrations import head

    try:
        version = metadata.version("hipaa-mail")
    except metadata.PackageNotFoundError:
        version = "unknown (not installed)"
    print(f"hipaa-mail {version}; migrations up to {head() or 'none (build is missing them)'}")
    return 0


async def _migrate(settings: Settings) -> int:
    from service.db.migrations import MigrationError, migrate

    try:
        applied = await migrate(settings.database_url)
    except MigrationError as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 1
    print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))
    from service.consent.terms import seal_plaintext_terms
    from service.db.pool import create_db_pool

    pool = await create_db_pool(settings, min_size=1, max_size=1)
    try:
        sealed = await seal_plaintext_terms(pool, settings.keyring)
    finally:
        await pool.close()
    if sealed:
        print(f"sealed the terms of {sealed} authorization(s) written before migration 0018")
    return 0


async def _rotate_keys(settings: Settings) -> int:
    from service.db.pool import create_db_pool
    from service.db.rotation import rotate

    pool = await create_db_pool(settings, min_size=1, max_size=2)
    try:
        report = await rotate(pool, settings.keyring)
    finally:
        await pool.close()
    for name, result in report.columns.items():
        stuck = ", ".join(f"{n} need {kid!r}" for kid, n in sorted(result.stuck.items()))
        print(f"{name}: {result.resealed} re-sealed" + (f"; {stuck}" if stuck else ""))
    for kid in report.retired:
        print(f"no stored value needs key {kid!r}; it can be removed from MASTER_KEYS")
    for kid in report.still_needed:
        print(f"{report.census[kid]} stored value(s) still need key {kid!r}: keep it",
              file=sys.stderr)
    return 1 if report.still_needed else 0


def serve_api(settings: Settings, host: str, port: int, workers: int = 1) -> int:
    import uvicorn

    from service.core.ports import ensure_free
    from service.http.app import create_app

    ensure_free(host, port, "API_PORT")
    # Several processes take the app as a name: each builds its own from the environment, as
    # this one did (its pool, Redis client, key cache and NOTIFY listener); whatever they share
    # is in PostgreSQL and Redis.
    app: Starlette | str = create_app(settings) if workers == 1 else "service.cli:api_app"
    # uvicorn's own access log prints full paths, which carry portal tokens; ours redacts them.
    # uvloop and httptools (dependencies) are what uvicorn's "auto" picks.
    uvicorn.run(app, factory=workers > 1, workers=workers, host=host, port=port,
                access_log=False, log_config=None, proxy_headers=True, server_header=False)
    return 0


def api_app() -> Starlette:
    """The app of one of ``api --workers N``'s processes (a fresh interpreter: its logging too)."""
    from service.http.app import create_app

    logs.configure(os.environ.get("LOG_LEVEL", "INFO"))
    return create_app(Settings.from_env())


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def serve_inbound(settings: Settings, host: str, port: int) -> int:
    import ssl
    import tempfile

    from service.core.ports import ensure_free
    from service.inbound.listener import serve

    if not settings.bounce_domain:
        raise ConfigError("BOUNCE_DOMAIN", "is required to receive bounces")
    ensure_free(host, port, "--port")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if settings.inbound_tls_cert and settings.inbound_tls_key:
        tls.load_cert_chain(settings.inbound_tls_cert, settings.inbound_tls_key)
    else:
        # Senders of bounces rarely verify our certificate; encryption still keeps the quoted
        # headers (the patient's address) off the wire. Set INBOUND_TLS_* for a real one.
        from service.devtools.certs import make_test_pki

        with tempfile.TemporaryDirectory() as directory:
            pki = make_test_pki(Path(directory))
            tls.load_cert_chain(pki.server_cert, pki.server_key)
    asyncio.run(serve(settings, host, port, tls))
    return 0


def check_api(settings: Settings) -> int:
    import urllib.error
    import urllib.request

    # Compared, not bound: a wildcard listener is checked over loopback.
    any_ipv4 = "0.0.0.0"  # noqa: S104 # nosec B104
    host = "127.0.0.1" if settings.api_host in (any_ipv4, "::") else settings.api_host
    url = f"http://{host}:{settings.api_port}/readyz"
    try:
        # The scheme is the http:// written above, never a file: or custom one.
        with urllib.request.urlopen(url, timeout=3) as response:  # nosec B310
            ready = response.status == 200
    except (OSError, urllib.error.URLError) as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1
    print(f"{url}: {'ready' if ready else 'not ready'}")
    return 0 if ready else 1


def check_subjects(
    lines: TextIO, out: TextIO, practice_names: list[str], *, strict: bool = False
) -> int:
    from service.subjects.policy import SubjectPolicy

    clinic = os.environ.get("CLINIC_NAME")
    policy = SubjectPolicy(allowed_phrases=(clinic,) if clinic else ())
    for line in lines:
        verdict = policy.check(line.rstrip("\r\n"), practice_names=practice_names, strict=strict)
        if verdict.ok:
            out.write("ok\n")
            continue
        where = "{}-{}".format(*verdict.span) if verdict.span else "-"
        out.write(f"reject\t{verdict.category}\t{where}\t{verdict.reason}\n")
    out.flush()
    return 0


def dkim_keygen(domain: str, selector: str, out: Path, kind: str) -> int:
    """Needs no settings: run it wherever the key is to be kept, then publish the record."""
    from service.delivery.dkim import dns_record, generate_key, write_private_key

    pem, txt = generate_key("ed25519" if kind == "ed25519" else "rsa")
    try:
        write_private_key(out, pem)
    except FileExistsError:
        print(f"dkim-keygen: {out} exists; a key in use is never overwritten", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"dkim-keygen: {out}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"wrote {out} (mode 0600); publish this record, then set DKIM_* and restart:",
          file=sys.stderr)
    print(dns_record(domain, selector, txt))
    return 0
