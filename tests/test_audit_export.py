"""The audit trail an auditor can be handed: verify-audit over the database and over an export
file, export-audit of a range, the README's by-hand procedure run as written, and a log of any
length checked in bounded memory."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import subprocess
import sys
import tracemalloc
from pathlib import Path

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from service.audit import GENESIS, chain_hash
from service.audit.records import BATCH
from service.audit.verify import check_log
from service.core import paths as p
from service.core.config import Settings
from tests.helpers import REMINDER, auth
from tests.test_cli import run

README = Path(__file__).resolve().parent.parent / "README.md"
SNIPPET = re.compile(r"<!-- audit-check -->\n```python\n(.*?)```", re.DOTALL)


def environment(settings: Settings) -> dict[str, str]:
    return {"DATABASE_URL": settings.database_url,
            "MASTER_KEYS": ",".join(f"{kid}:{base64.b64encode(key).decode()}"
                                    for kid, key in settings.keyring.keys.items())}


async def made_by_the_api(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    """A log written by real requests: contacts, consent changes, a message, a subject."""
    for n in range(3):
        contact = await client.post(p.CONTACTS, json={"email": f"pat{n}@example.org"},
                                    headers=auth(keys["sender"]))
        assert contact.status_code == 201, contact.text
        for action in ("revoke", "grant"):
            changed = await client.post(
                p.CONTACT_CONSENTS.format(contact_id=contact.json()["id"]),
                json={"purpose": "treatment", "action": action}, headers=auth(keys["sender"]))
            assert changed.status_code == 201, changed.text
    suppressed = await client.post(p.SUPPRESSIONS, json={"email": "gone@example.org",
                                                         "reason": "manual"},
                                   headers=auth(keys["admin"]))
    assert suppressed.status_code == 201
    refused = await client.post(p.MESSAGES, json={**REMINDER, "to": "gone@example.org"},
                                headers=auth(keys["sender"]))
    assert refused.status_code == 422
    subject = await client.post(p.APPROVED_SUBJECTS, json={"subject": "Clinic Holiday Hours"},
                                headers=auth(keys["admin"]))
    assert subject.status_code == 201


async def tamper(database_url: str, sql: str, *args: object) -> None:
    # As a superuser who can switch the append-only trigger off, as an intruder with the
    # database would.
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        await conn.execute(sql, *args)
        await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    finally:
        await conn.close()


async def test_verify_audit_passes_a_real_log_and_names_the_row_altered_in_the_database(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    tmp_path: Path,
) -> None:
    await made_by_the_api(client, keys)
    count = await app.state.resources.db.fetchval("SELECT count(*) FROM audit_log")
    assert count >= 10
    intact = run(tmp_path, "verify-audit", **environment(settings))
    assert intact.returncode == 0, intact.stderr
    assert intact.stdout.startswith(f"audit log intact: {count} records, ids 1..{count}")
    assert len(intact.stdout.strip().splitlines()) == 1
    await tamper(settings.database_url,
                 "UPDATE audit_log SET outcome = 'nothing happened' WHERE id = 4")
    broken = run(tmp_path, "verify-audit", **environment(settings))
    assert broken.returncode == 1
    assert "record id 4: hash mismatch" in broken.stderr, broken.stderr


async def test_a_deleted_row_breaks_the_link_and_the_missing_ids_are_named(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, tmp_path: Path,
) -> None:
    await made_by_the_api(client, keys)
    await tamper(settings.database_url, "DELETE FROM audit_log WHERE id = 5")
    broken = run(tmp_path, "verify-audit", **environment(settings))
    assert broken.returncode == 1
    assert "record id 6: broken link" in broken.stderr and "ids 5..5 are missing" in broken.stderr


async def test_an_export_verifies_offline_and_an_edited_or_deleted_line_is_named(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, tmp_path: Path,
) -> None:
    await made_by_the_api(client, keys)
    exported = run(tmp_path, "export-audit", "--from", "2000-01-01", "--to", "2099-12-31",
                   **environment(settings))
    assert exported.returncode == 0, exported.stderr
    lines = exported.stdout.splitlines()
    first = json.loads(lines[0])
    assert first["id"] == 1 and first["prev_hash"] == GENESIS.hex()
    assert set(first) == {"id", "at", "actor", "action", "object_type", "object_id", "outcome",
                          "detail", "prev_hash", "hash"}
    assert "example.org" not in exported.stdout  # no address, of anyone
    export = tmp_path / "audit.jsonl"
    export.write_text(exported.stdout)
    # No database, no keys: not even a DATABASE_URL that would answer.
    offline = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "MASTER_KEYS": "",
               "SERVICE_ENV": "production"}
    intact = run(tmp_path, "verify-audit", "--file", str(export), **offline)
    assert intact.returncode == 0, intact.stderr
    assert intact.stdout.startswith(f"export intact: {len(lines)} records")
    assert "from the start of the log" in intact.stdout

    edited = [json.loads(line) for line in lines]
    edited[2]["outcome"] = "nothing happened"
    export.write_text("".join(json.dumps(record) + "\n" for record in edited))
    broken = run(tmp_path, "verify-audit", "--file", str(export), **offline)
    assert broken.returncode == 1
    assert f"line 3, record id {edited[2]['id']}: hash mismatch" in broken.stderr, broken.stderr

    export.write_text("\n".join(lines[:3] + lines[4:]) + "\n")
    gone = run(tmp_path, "verify-audit", "--file", str(export), **offline)
    assert gone.returncode == 1
    assert f"line 4, record id {json.loads(lines[4])['id']}: broken link" in gone.stderr

    export.write_text("\n".join([*lines[:2], "{not json", *lines[3:]]) + "\n")
    garbled = run(tmp_path, "verify-audit", "--file", str(export), **offline)
    assert garbled.returncode == 1 and "line 3: not JSON" in garbled.stderr


async def test_a_middle_range_is_checked_from_its_anchor_and_ranges_meet_without_overlap(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    tmp_path: Path,
) -> None:
    await made_by_the_api(client, keys)
    cut = await app.state.resources.db.fetchval("SELECT at FROM audit_log WHERE id = 5")
    env = environment(settings)
    before = run(tmp_path, "export-audit", "--to", cut.isoformat(), **env)
    after = run(tmp_path, "export-audit", "--from", cut.isoformat(), **env)
    assert before.returncode == after.returncode == 0
    ids_before = [json.loads(line)["id"] for line in before.stdout.splitlines()]
    ids_after = [json.loads(line)["id"] for line in after.stdout.splitlines()]
    assert ids_before[0] == 1 and ids_before[-1] + 1 == ids_after[0] <= 5
    assert json.loads(after.stdout.splitlines()[0])["prev_hash"] == json.loads(
        before.stdout.splitlines()[-1])["hash"]
    middle = tmp_path / "middle.jsonl"
    middle.write_text(after.stdout)
    checked = run(tmp_path, "verify-audit", "--file", str(middle))
    assert checked.returncode == 0, checked.stderr
    anchor = json.loads(after.stdout.splitlines()[0])["prev_hash"]
    assert f"chained from the anchor {anchor}" in checked.stdout
    assert f"the record before id {ids_after[0]}" in checked.stdout
    nothing = run(tmp_path, "export-audit", "--from", "2099-01-01", **env)
    assert (nothing.returncode, nothing.stdout) == (0, "")
    wrong = run(tmp_path, "export-audit", "--from", "2026-12-01T09:30:00", **env)
    assert wrong.returncode == 2 and "offset" in wrong.stderr


async def test_the_readmes_procedure_recomputes_the_chain_of_an_export(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, tmp_path: Path,
) -> None:
    await made_by_the_api(client, keys)
    found = SNIPPET.search(README.read_text())
    assert found, "README.md has no <!-- audit-check --> block"
    script = tmp_path / "check.py"
    script.write_text(found.group(1))
    exported = run(tmp_path, "export-audit", **environment(settings))
    export = tmp_path / "audit.jsonl"
    export.write_text(exported.stdout)
    checked = run_python(tmp_path, str(script), str(export))
    assert checked.returncode == 0, checked.stderr
    last = json.loads(exported.stdout.splitlines()[-1])["hash"]
    assert checked.stdout.strip().endswith(f"last hash {last}")
    lines = exported.stdout.splitlines()
    assert all(line.isascii() for line in lines)
    edited = json.loads(lines[1])
    edited["detail"] = "changed"
    export.write_text("\n".join([lines[0], json.dumps(edited), *lines[2:]]) + "\n")
    refused = run_python(tmp_path, str(script), str(export))
    assert refused.returncode != 0 and "line 2" in refused.stderr


def run_python(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, check=False)


def test_the_hash_of_text_outside_ascii_is_the_readmes_escaped_bytes() -> None:
    at = dt.datetime(2026, 12, 7, 6, 10, 20, 442113, tzinfo=dt.UTC).isoformat()
    by_hand = json.dumps([at, "patient", "a", "b", "c", "d", "Zoë ✓"], separators=(",", ":"))
    assert by_hand.isascii() and "\\u00eb" in by_hand
    assert chain_hash(GENESIS, at, "patient", "a", "b", "c", "d", "Zoë ✓") == hashlib.sha256(
        GENESIS + by_hand.encode()).digest()


async def test_a_long_log_is_checked_in_bounded_memory(app: Starlette) -> None:
    db = app.state.resources.db
    rows, prev = [], GENESIS
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for n in range(30 * BATCH):
        at = start + dt.timedelta(seconds=n)
        detail = f"padding {'x' * 200} {n}"
        digest = chain_hash(prev, at.isoformat(), "worker", "message.deliver", "message",
                            f"{n:036d}", "sent", detail)
        rows.append((at, "worker", "message.deliver", "message", f"{n:036d}", "sent", detail,
                     prev, digest))
        prev = digest
    async with db.acquire() as conn:
        await conn.copy_records_to_table(
            "audit_log", records=rows, columns=["at", "actor", "action", "object_type",
                                                "object_id", "outcome", "detail", "prev_hash",
                                                "hash"])
        del rows
        tracemalloc.start()
        try:
            chain = await check_log(conn)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert chain.broken is None and chain.count == 30 * BATCH
    # The whole log in memory would be about 30 times this.
    assert peak < 4 * 1024 * 1024, peak


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "12/01/2026"])
def test_a_time_that_is_not_rfc_3339_or_a_date_is_refused_by_name(
    tmp_path: Path, text: str,
) -> None:
    refused = run(tmp_path, "export-audit", "--from", text)
    assert refused.returncode == 2 and "--from" in refused.stderr
