"""The auditor's verbs (``python -m service <verb>``): check the chain in the database or in an
export file, and export a range of it as JSON lines."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import sys
from pathlib import Path
from typing import Any

from service.audit.records import span, stream
from service.audit.verify import Chain, check_lines, check_log
from service.core.config import Settings
from service.db.pool import create_db_pool

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def register(verbs: Any) -> None:
    """Adds this capability's verbs to the CLI's subparsers. ``verify-audit`` sets
    ``standalone`` (it needs no settings for a file, so it loads them only for the database);
    ``export-audit`` sets ``command``."""
    verify = verbs.add_parser(
        "verify-audit", help="check the audit hash chain; exit 0, or 1 naming the first bad record")
    verify.add_argument("--file", type=Path,
                        help="an export-audit file to check offline (no database, no keys)")
    verify.set_defaults(standalone=_verify)
    export = verbs.add_parser("export-audit",
                              help="audit records as JSON lines, with their chain hashes")
    export.add_argument("--from", dest="since", type=instant, metavar="T",
                        help="first instant, RFC 3339 or a date (midnight UTC); default: the start")
    export.add_argument("--to", dest="until", type=instant, metavar="T",
                        help="instant the range ends before; default: no end")
    export.set_defaults(command=_export)


def instant(text: str) -> dt.datetime:
    if _DATE.fullmatch(text):
        return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a date (2026-12-01) nor an RFC 3339 time with its offset "
            "(2026-12-01T09:30:00Z)")
    return parsed


def _verify(args: argparse.Namespace) -> int:
    if args.file is None:
        return asyncio.run(_verify_database(Settings.from_env()))
    try:
        with args.file.open(encoding="utf-8", newline="\n") as lines:
            chain = check_lines(lines)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"verify-audit: {args.file}: {exc}", file=sys.stderr)
        return 2
    return _report(chain, "export")


async def _verify_database(settings: Settings) -> int:
    pool = await create_db_pool(settings, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            chain = await check_log(conn)
    finally:
        await pool.close()
    return _report(chain, "audit log")


def _report(chain: Chain, what: str) -> int:
    broken = chain.broken
    if broken is None:
        print(f"{what} intact: {chain.summary()}")
        return 0
    where = [] if broken.line is None else [f"line {broken.line}"]
    where += [] if broken.record_id is None else [f"record id {broken.record_id}"]
    print(f"{what} broken at {', '.join(where)}: {broken.problem}", file=sys.stderr)
    return 1


async def _export(settings: Settings, args: argparse.Namespace) -> int:
    if args.since is not None and args.until is not None and args.since >= args.until:
        print("export-audit: --from must be before --to", file=sys.stderr)
        return 2
    pool = await create_db_pool(settings, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read",
                                                            readonly=True):
            ids = await span(conn, args.since, args.until)
            if ids is not None:
                async for record in stream(conn, *ids):
                    sys.stdout.write(record.line() + "\n")
    finally:
        await pool.close()
    return 0
