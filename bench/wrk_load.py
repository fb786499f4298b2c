"""wrk running bench/accept.lua: a reminder per request, each with its own recipient and
Idempotency-Key. bench/accept.py posts for a duration, bench/delivery_throughput.py a fixed
number of messages; both through here, so that the load generator is wrk's C and not a Python
client on the same two cores (the lean asyncio client it replaced spent 0.8 of the API's own
CPU per request, taken from the service it measured).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from service.core import paths

LOAD_SCRIPT = Path(__file__).resolve().parent / "accept.lua"
# Time enough for any fixed number: the run ends when its last POST is answered, not then.
_LONGEST = "3600s"


def require() -> None:
    """Stops a bench before it starts when wrk is missing."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")


def _command(url: str, connections: int, threads: int, duration: str) -> list[str]:
    return ["wrk", "-t", str(threads), "-c", str(connections), "-d", duration, "--timeout",
            "10s", "-s", str(LOAD_SCRIPT), url + paths.MESSAGES]


def _env(key: str, ids_file: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "WRK_TAG": uuid.uuid4().hex[:12], "WRK_KEY": key,
            "WRK_IDS": str(ids_file), **extra}


def _result(returncode: int | None, stdout: str, stderr: str,
            ids_file: Path) -> tuple[dict[str, Any], list[str]]:
    lines = [line for line in stdout.splitlines() if line.startswith("wrk-result ")]
    if returncode != 0 or not lines:
        raise SystemExit(f"wrk failed ({returncode}):\n{stdout}{stderr}")
    ids = ids_file.read_text().split()
    ids_file.unlink()
    return json.loads(lines[-1].removeprefix("wrk-result ")), ids


def post_for(url: str, key: str, seconds: int, connections: int, threads: int,
             workdir: Path) -> tuple[dict[str, Any], list[str]]:
    """Posts for ``seconds``; returns wrk's result line and the ids it got 202s for."""
    ids_file = workdir / f"ids-{uuid.uuid4().hex}"
    done = subprocess.run(_command(url, connections, threads, f"{seconds}s"),
                          env=_env(key, ids_file), capture_output=True, text=True, check=False)
    return _result(done.returncode, done.stdout, done.stderr, ids_file)


async def post_at_least(url: str, key: str, n: int, connections: int, threads: int,
                        workdir: Path) -> tuple[dict[str, Any], float]:
    """Posts reminders until ``n`` are answered (``n`` a multiple of ``threads``); returns
    wrk's result line and the seconds that took. A few more may be accepted unanswered (see
    accept.lua's WRK_LIMIT): count the messages in PostgreSQL."""
    if n % threads:
        raise SystemExit(f"{n} messages do not split evenly over {threads} wrk threads")
    ids_file = workdir / f"ids-{uuid.uuid4().hex}"
    done_files = [Path(f"{ids_file}.done-{thread}") for thread in range(1, threads + 1)]
    started = time.perf_counter()
    wrk = await asyncio.create_subprocess_exec(
        *_command(url, connections, threads, _LONGEST),
        env=_env(key, ids_file, WRK_LIMIT=str(n // threads)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        while not all(f.exists() for f in done_files):
            if wrk.returncode is not None or time.perf_counter() - started > 600:
                raise SystemExit(f"wrk: not every thread had its {n // threads} answers "
                                 f"(exit status {wrk.returncode})")
            await asyncio.sleep(0.002)
        answered = time.perf_counter() - started
        wrk.send_signal(signal.SIGINT)  # its threads have stopped; it reports and exits
        stdout, stderr = await asyncio.wait_for(wrk.communicate(), 30)
    finally:
        if wrk.returncode is None:
            wrk.kill()
            await wrk.wait()
        for f in done_files:
            f.unlink(missing_ok=True)
    summary, _ = _result(wrk.returncode, stdout.decode(), stderr.decode(), ids_file)
    return summary, answered
