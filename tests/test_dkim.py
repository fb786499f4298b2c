"""DKIM on delivered mail: keys made by the real ``dkim-keygen`` verb, mail sent by the real worker
through the STARTTLS relay, and every signature checked by dkimpy's verifier (not our code) against
the DNS record the verb printed."""

from __future__ import annotations

import re
import stat
from dataclasses import replace
from pathlib import Path

import dkim
import httpx
import pytest
from starlette.applications import Starlette

from service.core.config import ConfigError, Settings
from service.delivery.dkim import DkimSigner
from service.devtools.relay import Mailbox
from tests.campaign_setup import sent_campaign
from tests.conftest import run_worker
from tests.helpers import parse_mail, send
from tests.test_cli import run

DOMAIN = "clinic.test"
COVERED = {"from", "to", "subject", "date", "message-id", "mime-version", "content-type"}


def keygen(tmp_path: Path, selector: str, kind: str) -> tuple[Path, str]:
    """The key file and the TXT record's value, as a resolver would hand it back (joined)."""
    out = tmp_path / f"{selector}.key"
    done = run(tmp_path, "dkim-keygen", "--domain", DOMAIN, "--selector", selector,
               "--out", str(out), "--type", kind)
    assert done.returncode == 0, done.stderr
    record = done.stdout.strip()
    prefix = f"{selector}._domainkey.{DOMAIN}. IN TXT "
    assert record.startswith(prefix), record
    strings = re.findall(r'"([^"]*)"', record.removeprefix(prefix))
    assert strings and all(len(s) <= 255 for s in strings)  # one TXT string holds 255 bytes
    return out, "".join(strings)


@pytest.fixture
def dns() -> dict[bytes, bytes]:
    """The test's DNS: selector name -> TXT value, filled by ``dkim_settings``."""
    return {}


def dkim_settings(settings: Settings, tmp_path: Path, dns: dict[bytes, bytes]) -> Settings:
    rsa_key, rsa_txt = keygen(tmp_path, "s2048", "rsa")
    ed_key, ed_txt = keygen(tmp_path, "ed1", "ed25519")
    dns[f"s2048._domainkey.{DOMAIN}.".encode()] = rsa_txt.encode()
    dns[f"ed1._domainkey.{DOMAIN}.".encode()] = ed_txt.encode()
    return replace(settings, dkim_domain=DOMAIN, dkim_selector="s2048",
                   dkim_key_file=str(rsa_key), dkim_ed25519_selector="ed1",
                   dkim_ed25519_key_file=str(ed_key))


def verified(data: bytes, dns: dict[bytes, bytes]) -> list[tuple[bytes, set[str]]]:
    """(algorithm, header fields covered) of each signature, or an AssertionError."""
    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return dns.get(name)

    found = []
    for index in range(2):
        checker = dkim.DKIM(data)
        assert checker.verify(idx=index, dnsfunc=lookup), f"signature {index} does not verify"
        fields = checker.signature_fields
        assert fields[b"d"] == DOMAIN.encode() and fields[b"c"] == b"relaxed/relaxed"
        found.append((fields[b"a"], {h.decode() for h in checker.include_headers}))
    return found


def breaks(data: bytes, dns: dict[bytes, bytes]) -> bool:
    """True when neither signature verifies."""
    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return dns.get(name)

    return not any(dkim.DKIM(data).verify(idx=i, dnsfunc=lookup) for i in range(2))


def test_keygen_writes_a_private_key_once_and_prints_the_record(tmp_path: Path) -> None:
    key, txt = keygen(tmp_path, "sel", "rsa")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert txt.startswith("v=DKIM1; k=rsa; p=MIIBIjAN")  # a 2048-bit SubjectPublicKeyInfo
    before = key.read_bytes()
    again = run(tmp_path, "dkim-keygen", "--domain", DOMAIN, "--selector", "sel",
                "--out", str(key))
    assert again.returncode == 1 and "exists" in again.stderr and again.stdout == ""
    assert key.read_bytes() == before
    _, ed_txt = keygen(tmp_path, "ed", "ed25519")
    assert re.fullmatch(r"v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=", ed_txt)


async def test_a_delivered_reminder_carries_rsa_and_ed25519_signatures_that_verify(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, mailbox: Mailbox,
    tmp_path: Path, dns: dict[bytes, bytes],
) -> None:
    await send(client, keys["sender"])
    await run_worker(dkim_settings(settings, tmp_path, dns))
    [(_, _, data)] = mailbox.messages

    signatures = verified(data, dns)
    assert [algorithm for algorithm, _ in signatures] == [b"rsa-sha256", b"ed25519-sha256"]
    for _, covered in signatures:
        assert covered == COVERED  # no List-Unsubscribe on a reminder, so none is signed
    assert all(len(line) <= 998 for line in data.split(b"\r\n")) and data.isascii()
    assert parse_mail(data)["Subject"] == "Upcoming Appointment Reminder"

    changed = data.replace(b"Subject: Upcoming Appointment Reminder",
                           b"Subject: Upcoming Appointment Reminder!")
    assert changed != data and breaks(changed, dns)
    # A second Subject added above the signed one (the replay trick) breaks it too.
    assert breaks(b"Subject: Act now\r\n" + data, dns)


async def test_a_campaign_email_is_signed_with_its_list_headers(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox, tmp_path: Path, dns: dict[bytes, bytes],
) -> None:
    signed = dkim_settings(settings, tmp_path, dns)
    await sent_campaign(app, client, keys, signed, mailbox, 2)
    for _, _, data in mailbox.messages:
        for _, covered in verified(data, dns):
            assert covered == COVERED | {"list-unsubscribe", "list-unsubscribe-post", "list-id"}
        mail = parse_mail(data)
        url = mail["List-Unsubscribe"]
        forged = data.replace(url.encode(), b"<https://elsewhere.example/u/x>")
        assert forged != data and breaks(forged, dns)


def test_the_keys_are_read_once_per_process(
    tmp_path: Path, dns: dict[bytes, bytes]
) -> None:
    configured = dkim_settings(Settings(), tmp_path, dns)
    signer = DkimSigner.from_settings(configured)
    assert signer is not None
    Path(str(configured.dkim_key_file)).unlink()  # gone from disk: the worker keeps signing
    message = (b"From: a@clinic.test\r\nTo: b@example.org\r\nSubject: s\r\n\r\nbody\r\n")
    assert len(verified(signer.sign_message(message), dns)) == 2


def test_a_wrong_or_missing_key_is_a_configuration_error(tmp_path: Path) -> None:
    ed_key, _ = keygen(tmp_path, "ed", "ed25519")
    wrong = Settings(dkim_domain=DOMAIN, dkim_selector="s", dkim_key_file=str(ed_key))
    with pytest.raises(ConfigError) as caught:
        DkimSigner.from_settings(wrong)
    assert caught.value.variable == "DKIM_KEY_FILE"
    with pytest.raises(ConfigError) as caught:
        DkimSigner.from_settings(Settings(dkim_domain=DOMAIN))
    assert caught.value.variable == "DKIM_SELECTOR"
    assert DkimSigner.from_settings(Settings()) is None  # no domain: unsigned, as in development


def test_repeated_and_folded_fields_are_canonicalised_as_a_verifier_reads_them(
    tmp_path: Path, dns: dict[bytes, bytes]
) -> None:
    """Our composer never repeats a field, but what is signed must match RFC 6376 anyway:
    instances taken from the bottom up, folding and runs of spaces relaxed."""
    signer = DkimSigner.from_settings(dkim_settings(Settings(), tmp_path, dns))
    assert signer is not None
    message = (b"From: a@clinic.test\r\nTo: first@example.org\r\nTo: second@example.org\r\n"
               b"Subject: a  long\r\n\tfolded   subject \r\n\r\nbody  text \r\n\r\n\r\n")
    assert len(verified(signer.sign_message(message), dns)) == 2


def test_only_the_worker_holds_the_signing_key() -> None:
    """Production with marketing on names DKIM_* and the postal address; the key file is
    mounted from its Secret into the worker alone (it signs), never into the API pod that
    faces the internet, nor the one-off Jobs, nor the image."""
    import yaml

    from tests.test_deploy import DEPLOY, config, containers, pod_spec, workload_by_verb

    settings = config()
    for variable in ("DKIM_DOMAIN", "DKIM_SELECTOR", "DKIM_KEY_FILE", "CLINIC_POSTAL_ADDRESS"):
        assert settings.get(variable), variable
    key_dir = str(Path(settings["DKIM_KEY_FILE"]).parent)
    for verb in ("api", "worker", "migrate", "rotate-keys"):
        workload = workload_by_verb(verb)
        volumes = {v["name"]: v for v in pod_spec(workload)["volumes"]}
        mounts = [m for c in containers(workload) for m in c.get("volumeMounts", [])
                  if m["mountPath"] == key_dir]
        secrets = [v for v in volumes.values()
                   if v.get("secret", {}).get("secretName") == "hipaa-mail-dkim"]
        if verb != "worker":
            assert mounts == [] and secrets == [], verb
            continue
        assert len(mounts) == 1 and mounts[0].get("readOnly"), verb
        secret = volumes[mounts[0]["name"]]["secret"]
        assert secret["secretName"] == "hipaa-mail-dkim" and secret["defaultMode"] == 0o440
        assert pod_spec(workload)["securityContext"]["fsGroup"] == 10001, verb
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert "dkim-key" in compose["secrets"]
    for name in ("migrate", "api", "worker"):
        service = compose["services"][name]
        assert service.get("secrets", []) == (["dkim-key"] if name == "worker" else []), name
        assert service["environment"]["DKIM_KEY_FILE"] == "/run/secrets/dkim-key", name
