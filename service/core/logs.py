"""Every log line of every verb: one JSON object, in ASCII, on one line.

A request path is decoded before it is logged, so ``/v1/zz%0a...`` would start a line of the
attacker's choosing in a plain-text log. Here every value is a JSON string: CR, LF, the other C0
and C1 controls, U+2028/2029, quotes and backslashes come out escaped, so a line always starts
with ``{"time":`` and ends where the record ends. Exceptions are reduced to their type: a
traceback quotes local values, and driver messages quote query parameters (PHI).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType

_FIELDS = "fields"


def fields(**values: str | int | float) -> dict[str, Mapping[str, str | int | float]]:
    """``extra=`` for a record whose data are named fields rather than words in the message:
    ``log.info("request", extra=fields(method="GET", status=200))``."""
    return {_FIELDS: values}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
        }
        extra = getattr(record, _FIELDS, None)
        if isinstance(extra, Mapping):
            for name, value in extra.items():
                entry.setdefault(name, value)
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
        # ensure_ascii also escapes U+2028/2029 and C1 controls, which some readers take for
        # line ends; default=str keeps an odd value from breaking the line.
        return json.dumps(entry, ensure_ascii=True, default=str)


def _message(record: logging.LogRecord) -> str:
    args = record.args
    if isinstance(args, tuple):
        # An exception's text can quote values (a driver's error quotes the row it refused), and
        # libraries pass it as an argument (arq: "%s failed, %s: %s"): its type stands in.
        args = tuple(type(a).__name__ if isinstance(a, BaseException) else a for a in args)
    try:
        return str(record.msg) % args if args else str(record.msg)
    except (TypeError, ValueError, KeyError):
        # A malformed call: its template, not logging's plain-text error report quoting the
        # arguments.
        return str(record.msg)


def configure(level: str) -> None:
    """The one handler, on the root logger: every library's records come through it."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.captureWarnings(True)  # warnings.warn prints plain text otherwise
    # uvicorn's access line carries the raw path and query (tokens) and the client address;
    # http/middleware.py (Edge) writes ours. aiosmtpd's "mail.log" names every peer's address
    # and quotes the SMTP commands (addresses in RCPT TO); the inbound listener logs its own
    # outcome.
    for noisy in ("uvicorn.access", "mail.log"):
        logging.getLogger(noisy).disabled = True
    sys.excepthook = _log_uncaught


def _log_uncaught(
    kind: type[BaseException], value: BaseException, traceback: TracebackType | None,
) -> None:
    logging.getLogger("service").critical("uncaught exception", exc_info=(kind, value, traceback))
