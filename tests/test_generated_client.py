"""A client generated from openapi.yaml by openapi-python-client (as a clinic's developer would
make one) sends a reminder, reads its status and reads a problem, against the real app: the
operationIds and tags are what make its calls read ``messages.send_message``, not paths."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import httpx
from starlette.applications import Starlette

from tests.helpers import REMINDER

SPEC = Path(__file__).resolve().parent.parent / "openapi.yaml"
GENERATOR = Path(sys.executable).parent / "openapi-python-client"


def generate(into: Path) -> None:
    done = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(SPEC), "--meta", "none",
         "--output-path", str(into / "hipaa_mail_client")],
        capture_output=True, text=True, timeout=120, check=False, cwd=into)
    assert done.returncode == 0, done.stdout + done.stderr


async def test_a_generated_client_sends_a_reminder_and_reads_its_status_and_a_problem(
    app: Starlette, keys: dict[str, str], tmp_path: Path,
) -> None:
    generate(tmp_path)  # before any request: nothing else runs on the loop meanwhile
    sys.path.insert(0, str(tmp_path))
    try:
        generated = importlib.import_module("hipaa_mail_client")
        send_message = importlib.import_module("hipaa_mail_client.api.messages.send_message")
        get_message = importlib.import_module("hipaa_mail_client.api.messages.get_message")
        models = importlib.import_module("hipaa_mail_client.models")
    finally:
        sys.path.remove(str(tmp_path))
    client = generated.AuthenticatedClient(
        base_url="http://hipaa-mail.test", token=keys["sender"],
        httpx_args={"transport": httpx.ASGITransport(app=app)})
    async with client:
        accepted = await send_message.asyncio(client=client,
                                              body=models.NewMessage.from_dict(REMINDER))
        assert isinstance(accepted, models.Accepted), accepted
        status = await get_message.asyncio(client=client, message_id=accepted.id)
        assert isinstance(status, models.MessageStatus)
        assert (str(status.id), status.status.value) == (str(accepted.id), "queued")
        refused = await send_message.asyncio_detailed(
            client=client,
            body=models.NewMessage.from_dict({**REMINDER, "subject": "Your HIV test results"}))
    assert refused.status_code == 422
    problem = refused.parsed
    assert isinstance(problem, models.Problem)
    assert problem.type_.endswith("/subject-not-generic") and "HIV" not in str(problem.to_dict())
