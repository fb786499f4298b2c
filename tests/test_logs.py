"""Every log line is one JSON object that no request can forge: what an attacker puts in a path
or a header comes out escaped inside a string, never as the start of a line, and exceptions are
logged by type alone."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from service.core.logs import JsonFormatter
from tests.conftest import free_port

# Every C0 and C1 control, DEL, the Unicode line and paragraph separators, quotes, backslash.
HOSTILE = (
    "".join(chr(c) for c in range(0x20)) + "\x7f" + "".join(chr(c) for c in range(0x80, 0xA0))
    + "\u2028\u2029\"'\\"
)
FORGED = '{"time": "2020-01-01T00:00:00.000+00:00", "level": "CRITICAL", "logger": "forged"}'
# How every line starts: the formatter's own keys, so nothing the request sent comes first.
_LINE_START = re.compile(
    r'^\{"time": "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", "level": "[A-Z]+", '
    r'"logger": "[\w.]+", "message": "'
)


def assert_json_lines(text: str) -> list[dict[str, object]]:
    """Every line of ``text`` as its JSON object; no line is anything else."""
    entries = []
    assert text.endswith("\n") or not text
    for line in text.split("\n")[:-1]:
        assert line.isascii() and line.isprintable(), line
        assert line.splitlines() == [line], line  # no CR, NEL, U+2028 etc. splits it either
        assert _LINE_START.match(line), line
        entry = json.loads(line)
        assert isinstance(entry, dict), line
        entries.append(entry)
    return entries


def hostile_paths() -> list[str]:
    """Decoded paths, each sent percent-encoded (as a client must)."""
    return [f"/v1/zz\n{FORGED}", f"/v1/zz\r\n{FORGED}", f"/v1/zz{HOSTILE}end",
            f"/p/token{HOSTILE}\n{FORGED}", f"/v1/messages/{HOSTILE}"]


@contextmanager
def captured_log() -> Iterator[io.StringIO]:
    """The root logger's records, through the service's formatter, as the CLI sets it up."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_hostile_paths_and_headers_stay_inside_json_strings(
    client: httpx.AsyncClient,
) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    header = (canary + HOSTILE + "\n" + FORGED).encode()
    headers = {name: header for name in (
        "User-Agent", "Referer", "X-Forwarded-For", "X-Request-Id", "Idempotency-Key",
        "Authorization", "Cookie")}
    with captured_log() as stream:
        for path in hostile_paths():
            await client.get(quote(path, safe="/"), headers=headers)
            await client.post(quote(path, safe="/"), headers=headers, content=header)
    output = stream.getvalue()
    entries = assert_json_lines(output)
    logged = [e["path"] for e in entries if e["logger"] == "service.access"]
    assert len(logged) == 2 * len(hostile_paths())
    # Escaped, not dropped: the decoded path comes back whole (a token after /p/ redacted).
    for path in hostile_paths():
        assert logged.count(path if not path.startswith("/p/") else "/p/<redacted>") == 2
    assert canary not in output  # no header is logged at all


def test_an_exception_is_logged_by_its_type_alone() -> None:
    secret = "patient@example.org"
    with captured_log() as stream:
        try:
            raise ValueError(f"duplicate key (email)=({secret})")
        except ValueError as exc:
            logging.getLogger("arq.worker").exception("%s failed, %s: %s", "job", "ValueError",
                                                      exc)
    [entry] = assert_json_lines(stream.getvalue())
    assert entry["exception"] == "ValueError"
    assert entry["message"] == "job failed, ValueError: ValueError"
    assert secret not in stream.getvalue() and "Traceback" not in stream.getvalue()


def test_a_malformed_logging_call_is_its_template_and_still_one_line() -> None:
    record = logging.LogRecord("service", logging.WARNING, __file__, 1, "%d items\n%s",
                               (f"x\n{FORGED}",), None)
    [entry] = assert_json_lines(JsonFormatter().format(record) + "\n")
    assert entry["message"] == "%d items\n%s"


def _env(**settings: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("API_PORT", "DEV_RELAY_PORT")}
    return {**environment, "LOG_LEVEL": "DEBUG", **settings}


@contextmanager
def _running(tmp_path: Path, port: int, *args: str, **settings: str) -> Iterator[Path]:
    """``python -m service <args>`` until the block ends (SIGTERM); yields its output file,
    stdout and stderr together."""
    output = tmp_path / "output.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", *args], cwd=tmp_path, env=_env(**settings),
            stdout=sink, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, output.read_text()
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", port)) == 0:
                        break
                assert time.monotonic() < deadline, output.read_text()
                time.sleep(0.05)
            yield output
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)


def _raw_request(port: int, request: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(65536):
            pass


@pytest.mark.usefixtures("clean_db")  # the database's index key is sealed under its own keyring
def test_the_real_api_server_writes_only_json_lines(
    tmp_path: Path, database_url: str, redis_url: str,
) -> None:
    port = free_port()
    canary = f"canary-{uuid.uuid4().hex}"
    hostile = (canary + HOSTILE).encode() + FORGED.encode()
    # What HTTP allows in a header value: quotes, backslashes, any byte from 0x80 (NEL and
    # U+2028 in UTF-8 among them).
    allowed = (f"{canary}\u2028\x85\"\\" + FORGED).encode() + bytes(range(0x80, 0x100))
    headers = b"".join(name + b": " + allowed + b"\r\n" for name in (
        b"User-Agent", b"Referer", b"X-Forwarded-For", b"Cookie", b"Authorization"))
    with _running(tmp_path, port, "api", "--port", str(port),
                  DATABASE_URL=database_url, REDIS_URL=redis_url) as output:
        for path in hostile_paths():
            target = quote(path, safe="/").encode()
            _raw_request(port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n" + headers
                         + b"Connection: close\r\n\r\n")
        # What the HTTP parser refuses: raw control bytes, CR/LF in a header, bare garbage.
        _raw_request(port, b"GET /v1/zz\n" + FORGED.encode() + b" HTTP/1.1\r\n\r\n")
        _raw_request(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-A: " + hostile + b"\r\n\r\n")
        _raw_request(port, hostile + b"\r\n\r\n")
        _raw_request(port, b"GET /p/" + canary.encode() + b"?q=" + canary.encode()
                     + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    text = output.read_text(encoding="ascii")
    entries = assert_json_lines(text)
    loggers = {e["logger"] for e in entries}
    assert {"uvicorn.error", "service.access"} <= loggers, text
    assert [e["path"] for e in entries if e["logger"] == "service.access"][:2] == [
        "/v1/zz\n" + FORGED, "/v1/zz\r\n" + FORGED]
    assert any(e["message"] == "Invalid HTTP request received." for e in entries)
    assert canary not in text


def test_a_failed_start_is_logged_by_type_without_its_traceback(
    tmp_path: Path, database_url: str, redis_url: str,
) -> None:
    missing = f"missing_{uuid.uuid4().hex}"
    done = subprocess.run(
        [sys.executable, "-m", "service", "api", "--port", str(free_port())], cwd=tmp_path,
        env=_env(DATABASE_URL=database_url.rsplit("/", 1)[0] + "/" + missing,
                 REDIS_URL=redis_url),
        capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout == ""
    entries = assert_json_lines(done.stderr)
    assert any(e["message"] == "start-up or shutdown failed: InvalidCatalogNameError"
               for e in entries), done.stderr
    assert missing not in done.stderr and "Traceback" not in done.stderr


def test_an_uncaught_exception_is_one_json_line_naming_its_type() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from service.core import logs; logs.configure('INFO'); "
                               "raise ValueError('patient@example.org')"],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    [entry] = assert_json_lines(done.stderr)
    assert entry["exception"] == "ValueError" and "patient@" not in done.stderr


@pytest.mark.usefixtures("clean_db")  # the database's index key is sealed under its own keyring
def test_the_worker_writes_only_json_lines(
    tmp_path: Path, database_url: str, redis_url: str,
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "service", "worker", "--burst"], cwd=tmp_path,
        env=_env(DATABASE_URL=database_url, REDIS_URL=redis_url,
                 QUEUE_NAME=f"test-queue-{uuid.uuid4().hex}",
                 WORKER_HEARTBEAT_FILE=str(tmp_path / "beat")),
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert any(e["logger"] == "arq.worker" for e in assert_json_lines(done.stderr))


@pytest.mark.usefixtures("clean_db")  # the database's index key is sealed under its own keyring
def test_the_inbound_listener_writes_only_json_lines_and_no_peer_address(
    tmp_path: Path, database_url: str, redis_url: str,
) -> None:
    port = free_port()
    canary = f"canary{uuid.uuid4().hex}"
    hostile = (canary + HOSTILE.replace("\r", "").replace("\n", "")).encode() + FORGED.encode()
    with _running(tmp_path, port, "inbound", "--port", str(port), DATABASE_URL=database_url,
                  REDIS_URL=redis_url, BOUNCE_DOMAIN="bounces.clinic.test") as output:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            replies = sock.makefile("rb")
            replies.readline()
            for command in (b"EHLO " + hostile, b"MAIL FROM:<" + hostile + b"@example.org>",
                            b"RCPT TO:<" + hostile + b"@bounces.clinic.test>", hostile,
                            b"QUIT"):
                sock.sendall(command + b"\r\n")
                while (reply := replies.readline())[3:4] == b"-":
                    pass
                assert reply[:1] in (b"2", b"5"), reply
    text = output.read_text(encoding="ascii")
    entries = assert_json_lines(text)
    assert any(str(e["message"]).startswith("inbound listening") for e in entries)
    assert canary not in text and "('127.0.0.1'" not in text
