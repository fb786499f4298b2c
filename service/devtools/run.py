"""``python -m service dev``: the whole service on one machine, for trying it out.

Migrates the database, starts a local relay that *requires* STARTTLS with a freshly made test CA
(delivered mail lands in ``.dev/mailbox/*.eml``), creates a sender key and runs the API and the
worker together. Nothing here is for production.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncpg
import uvicorn

from service.access import create_api_key
from service.core.config import Settings
from service.core.ports import ensure_free
from service.db.migrations import migrate
from service.devtools.certs import make_test_pki
from service.devtools.relay import Mailbox, start_relay
from service.http.app import create_app
from service.worker import build_worker

DEV_DIR = Path(".dev")


async def run_dev() -> int:
    ports = Settings.from_env()
    api_port, smtp_port = ports.api_port, ports.dev_relay_port
    ensure_free("127.0.0.1", api_port, "API_PORT")
    ensure_free("127.0.0.1", smtp_port, "DEV_RELAY_PORT")
    certs = make_test_pki(DEV_DIR / "pki")
    # The worker delivers to the local relay whatever .env says: dev mail never leaves the machine.
    os.environ.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port), SMTP_TLS="starttls",
                      SMTP_CA_FILE=str(certs.ca_cert))
    os.environ.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{api_port}")
    os.environ.setdefault("MAIL_FROM", "Riverside Clinic <no-reply@clinic.example>")
    os.environ.setdefault("CLINIC_NAME", "Riverside Clinic")
    settings = Settings.from_env()
    await migrate(settings.database_url)
    mailbox_dir = DEV_DIR / "mailbox"
    relay = start_relay(Mailbox(directory=mailbox_dir), "127.0.0.1", smtp_port, certs)
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=1)
    assert pool is not None
    key = await create_api_key(pool, "sender", "dev sender")
    await pool.close()
    server = uvicorn.Server(uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=api_port, access_log=False, log_config=None,
    ))
    worker = build_worker(settings, handle_signals=False)
    print(_banner(settings, key, mailbox_dir), flush=True)
    try:
        worker_task = asyncio.create_task(worker.async_run())
        await server.serve()
    finally:
        await worker.close()
        worker_task.cancel()
        relay.stop()
    return 0


def _banner(settings: Settings, key: str, mailbox: Path) -> str:
    base = settings.public_base_url
    return f"""
hipaa-mail is running (development mode)
  API and portal   {base}
  STARTTLS relay   127.0.0.1:{settings.smtp_port} (test CA in {DEV_DIR}/pki/ca.pem)
  delivered mail   {mailbox.resolve()}/*.eml
  sender API key   {key}

Send a first reminder:

  curl -sS -X POST {base}/v1/messages \\
    -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\
    -H 'Idempotency-Key: first-reminder' \\
    -d '{{"to": "patient@example.org", "purpose": "treatment",
         "subject": "Upcoming Appointment Reminder",
         "content": "Dr. Rivera, cardiology follow-up, Tue 10:30, bring your medication list.",
         "verification": "1980-03-14", "verification_format": "date"}}'

Then: ls {mailbox}/ ; open the link in the .eml; the portal asks for 1980-03-14.
Press Ctrl-C to stop.
"""
