"""``make test-install``: the README's "Running it for real", run as an operator runs it.

Installs the checkout (``pip install .``, a built wheel, never editable) into a clean venv, then
from a directory outside the checkout: ``migrate`` on a new database, ``create-key``, ``api`` and
``worker``; one reminder goes over STARTTLS (test CA) to a local relay; ``/openapi.yaml`` and
``/readyz`` answer; the health checks pass; and ``migrate`` with the packaged files removed exits
non-zero. The commands are read from the README's block, so the docs cannot drift from this.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.devtools.certs import make_test_pki  # noqa: E402
from service.devtools.relay import Mailbox, start_relay  # noqa: E402
from tests.conftest import ADMIN_DSN, claim_redis_database, free_port  # noqa: E402
from tests.helpers import REMINDER, mail_text, parse_mail  # noqa: E402

BLOCK = re.compile(r"<!-- install-test -->\n```sh\n(.*?)```", re.DOTALL)


def readme_commands() -> list[list[str]]:
    found = BLOCK.search((ROOT / "README.md").read_text())
    assert found, "README.md has no <!-- install-test --> block"
    lines = [line.split("#", 1)[0].strip() for line in found[1].splitlines()]
    return [shlex.split(line) for line in lines if line]


def step(text: str) -> None:
    print(f"test-install: {text}", flush=True)


def main() -> int:
    commands = readme_commands()
    assert commands[0] == ["pip", "install", "."], commands[0]
    work = Path(tempfile.mkdtemp(prefix="hipaa-mail-install-"))
    database = f"hipaa_mail_install_{uuid.uuid4().hex[:8]}"
    processes: list[subprocess.Popen[bytes]] = []
    relay = None
    try:
        step(f"clean venv in {work}/venv")
        subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True)
        bin_dir = work / "venv" / "bin"
        # A copy of what a clone holds: a build/ left in the checkout would hide missing files.
        source = work / "src"
        listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                                check=True, capture_output=True).stdout.decode().split("\0")
        for name in filter(None, listed):
            if (ROOT / name).exists() or (ROOT / name).is_symlink():
                (source / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, source / name, follow_symlinks=False)
        step("pip install . (builds the wheel, installs it)")
        subprocess.run([str(bin_dir / "pip"), "install", "--quiet", "."], cwd=source, check=True)
        elsewhere = work / "run"
        elsewhere.mkdir()
        site = subprocess.run(
            [str(bin_dir / "python"), "-c", "import service; print(service.__file__)"],
            cwd=elsewhere, check=True, capture_output=True, text=True).stdout.strip()
        assert not site.startswith(str(ROOT)), f"imported from the checkout: {site}"

        pki = make_test_pki(work / "pki")
        mailbox = Mailbox()
        smtp_port, api_port = free_port(), free_port()
        relay = start_relay(mailbox, "127.0.0.1", smtp_port, pki)
        _run_sql(f'CREATE DATABASE "{database}"')
        env = {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "SERVICE_ENV": "production",
            "DATABASE_URL": ADMIN_DSN.rsplit("/", 1)[0] + "/" + database,
            "REDIS_URL": claim_redis_database(),
            "QUEUE_NAME": f"install-test-{uuid.uuid4().hex[:8]}",
            "MASTER_KEYS": "k1:" + base64.b64encode(os.urandom(32)).decode(),
            "MAIL_FROM": "Riverside Clinic <no-reply@clinic.test>",
            "CLINIC_NAME": "Riverside Clinic",
            "CLINIC_PHONE": "+1 555 0100",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}",
            "API_PORT": str(api_port),
            "MARKETING_ENABLED": "false",  # DKIM and a postal address are not set up here
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "SMTP_CA_FILE": str(pki.ca_cert),
            "WORKER_HEARTBEAT_FILE": str(work / "worker.heartbeat"),
        }

        def verb(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
            return subprocess.run(args, cwd=elsewhere, env=env, capture_output=True, text=True,
                                  timeout=120, check=False, **kwargs)  # type: ignore[call-overload]

        key = ""
        for args in commands[1:]:
            assert args[:3] == ["python", "-m", "service"], args
            name = args[3]
            step(" ".join(args))
            if name in ("api", "worker"):
                processes.append(subprocess.Popen(args, cwd=elsewhere, env=env))
                continue
            done = verb(args)
            assert done.returncode == 0, f"{name} failed:\n{done.stdout}{done.stderr}"
            if name == "migrate":
                files = sorted((ROOT / "migrations").glob("*.sql"))
                assert f"applied {len(files)} migration(s)" in done.stdout, done.stdout
            if name == "create-key":
                key = done.stdout.strip()
        assert key and len(processes) == 2, "the README must create a key, start api and worker"

        base = f"http://127.0.0.1:{api_port}"
        _wait_for(lambda: _status(base + "/readyz") == 200, "the API to be ready")
        step("one reminder, delivered over STARTTLS to the relay")
        sent = httpx.post(base + "/v1/messages", json=REMINDER, timeout=10,
                          headers={"Authorization": f"Bearer {key}"})
        assert sent.status_code == 202, sent.text
        _wait_for(lambda: len(mailbox.messages) == 1, "the reminder to reach the relay")
        links = re.findall(re.escape(base) + r"/p/[A-Za-z0-9_-]{43}",
                           mail_text(parse_mail(mailbox.messages[0][2])))
        assert links, "no portal link in the email"
        page = httpx.post(links[0], timeout=10)
        assert page.status_code == 200 and "Dr. Rivera" in page.text, page.status_code
        document = httpx.get(base + "/openapi.yaml", timeout=10)
        assert document.status_code == 200
        assert document.content == (ROOT / "openapi.yaml").read_bytes()
        step("health checks of both roles")
        for check in (["api", "--check"], ["worker", "--check"]):
            done = verb(["python", "-m", "service", *check])
            assert done.returncode == 0, f"{check}: {done.stdout}{done.stderr}"
        version = verb(["python", "-m", "service", "version"])
        assert version.returncode == 0 and "migrations up to" in version.stdout

        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly.
            assert process.wait(timeout=30) in (0, -signal.SIGTERM), process.args
        processes.clear()

        step("migrate with the packaged migrations removed must refuse")
        installed = Path(site).parent / "shipped" / "migrations"
        shutil.rmtree(installed)
        refused = verb(["python", "-m", "service", "migrate"])
        assert refused.returncode != 0 and "no migration files" in refused.stderr, refused
        step("all passed")
        return 0
    finally:
        for process in processes:
            process.kill()
        if relay is not None:
            relay.stop()
        _run_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


def _wait_for(condition: object, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _run_sql(statement: str) -> None:
    import asyncio

    async def go() -> None:
        conn = await asyncpg.connect(ADMIN_DSN)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(go())


if __name__ == "__main__":
    sys.exit(main())
