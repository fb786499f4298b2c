"""``python -m service <verb>``: the operator's entry points (see CONTRACT.md)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from service.core.config import ConfigError, Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service")
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("migrate", help="apply pending database migrations")
    api = verbs.add_parser("api", help="serve the HTTP API, portal and dashboard")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    worker = verbs.add_parser("worker", help="run the delivery worker")
    worker.add_argument("--burst", action="store_true", help="drain the queue and exit")
    key = verbs.add_parser("create-key", help="print a new API key once")
    key.add_argument("--role", required=True, choices=("sender", "marketer", "admin"))
    key.add_argument("--name", required=True)
    verbs.add_parser("check-subjects", help="lint subject lines read from stdin")
    dev = verbs.add_parser("dev", help="run everything locally with a STARTTLS relay")
    dev.add_argument("--port", type=int, default=8000)
    dev.add_argument("--smtp-port", type=int, default=2525)
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if args.verb == "check-subjects":
        return check_subjects(sys.stdin, sys.stdout)
    try:
        if args.verb == "dev":
            from service.devtools.run import run_dev

            return asyncio.run(run_dev(api_port=args.port, smtp_port=args.smtp_port))
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.verb == "migrate":
        return asyncio.run(_migrate(settings))
    if args.verb == "api":
        return serve_api(settings, args.host, args.port)
    if args.verb == "worker":
        from service.worker import build_worker

        build_worker(settings, burst=args.burst).run()
        return 0
    if args.verb == "create-key":
        return asyncio.run(_create_key(settings, args.role, args.name))
    raise AssertionError(args.verb)


async def _migrate(settings: Settings) -> int:
    from service.db.migrations import migrate

    applied = await migrate(settings.database_url)
    print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))
    return 0


async def _create_key(settings: Settings, role: str, name: str) -> int:
    import asyncpg

    from service.access import create_api_key

    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=1)
    assert pool is not None
    try:
        key = await create_api_key(pool, role, name)  # type: ignore[arg-type]
    finally:
        await pool.close()
    print(f"created {role} key {name!r}; it is shown only once:", file=sys.stderr)
    print(key)
    return 0


def serve_api(settings: Settings, host: str, port: int) -> int:
    import uvicorn

    from service.http.app import create_app

    # uvicorn's own access log prints full paths, which carry portal tokens; ours redacts them.
    uvicorn.run(create_app(settings), host=host, port=port, access_log=False, log_config=None,
                proxy_headers=True, server_header=False)
    return 0


def check_subjects(lines: TextIO, out: TextIO) -> int:
    from service.subjects.policy import SubjectPolicy

    clinic = os.environ.get("CLINIC_NAME")
    policy = SubjectPolicy(allowed_phrases=(clinic,) if clinic else ())
    for line in lines:
        verdict = policy.check(line.rstrip("\r\n"))
        out.write("ok\n" if verdict.ok else f"reject\t{verdict.category}: {verdict.reason}\n")
    out.flush()
    return 0
