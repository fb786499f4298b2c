"""The EAST STARTTLS client test cases (tests/data/east/) against the worker's own SMTP client.

Each case describes a hostile or broken server: refusals of the greeting, EHLO or STARTTLS, no
STARTTLS, bad certificates, buffered replies. A scripted loopback server speaks each case, and
``SmtpPool.send`` (what the worker calls) tries to deliver a message carrying a canary; the
outcome goes through ``next_step``, the decision the worker applies. For every case: nothing of
the message (canary, MAIL, RCPT, DATA) is sent before verified TLS, no case ends a message for
good (every refusal here comes before TLS), and no case hangs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import re
import ssl
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette

from service.core.config import Settings
from service.delivery.compose import Envelope
from service.delivery.retry import next_step
from service.delivery.smtp import DeliveryError, RelayConfig, SmtpPool
from service.devtools.certs import CertFiles, make_test_pki
from service.devtools.relay import server_tls_context
from tests.conftest import run_worker
from tests.helpers import auth, send

EAST = Path(__file__).parent / "data" / "east"
CASE_FILES = sorted(EAST.glob("testcases*/**/*.ron"))
CANARY = b"CANARY-7f3e-PHI-must-not-leak"
ENVELOPE = Envelope("no-reply@clinic.test", "pat.jones@example.org",
                    b"Subject: x\r\n\r\n" + CANARY + b"\r\n")
CLIENT_TIMEOUT = 2.0
CASE_TIMEOUT = 10.0
GIVE_UP = 48 * 3600.0
# Two steps the Buffering case keeps commented out, run as cases of their own: the server
# ignores EHLO inside TLS (the client must time out), and the server appends a forged EHLO reply
# to its 220, in plaintext (the client must discard it).
VARIANTS: dict[str, dict[str, Any]] = {
    "B_1 step 1": {"ignore_commands_tls": ["ehlo"]},
    "B_1 step 2": {
        "stls_response": "220 Ready to start TLS\r\n250-example.org\r\n250 AUTH LOGIN\r\n"},
}
KNOWN = {"capabilities", "capabilities_tls", "cert", "implicit_tls", "hook_data", "greeting",
         "override_response", "stls_response", "stls_make_transition", "hide_commands",
         "ignore_commands_tls", "override_response_tls"}


# RON (Rusty Object Notation), as far as the cases use it: (field: value, ...), [a, b],
# {"k": "v"}, "strings", true/false, and variants such as StartTLS, Auth([Plain]) or
# Cert(crt_path: ...). A variant becomes (name, args), args a list or a dict of fields.
_TOKEN = re.compile(r'\s+|//[^\n]*|"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*|[-0-9.]+|[()\[\]{}:,]')


def parse_ron(text: str) -> Any:
    tokens, at = [], 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        assert match, f"not understood at {text[at:at + 20]!r}"
        token, at = match.group(), match.end()
        if token.strip() and not token.startswith("//"):
            tokens.append(token)
    value, end = _value(tokens, 0)
    assert end == len(tokens)
    return value


def _value(tokens: list[str], i: int) -> tuple[Any, int]:
    token = tokens[i]
    if token.startswith('"'):
        return token[1:-1].encode().decode("unicode_escape"), i + 1
    if token in ("true", "false"):
        return token == "true", i + 1
    if token == "(":
        return _group(tokens, i + 1, ")")
    if token == "[":
        return _group(tokens, i + 1, "]")
    if token == "{":
        return _group(tokens, i + 1, "}")
    if tokens[i + 1:i + 2] == ["("]:
        args, end = _group(tokens, i + 2, ")")
        return (token, args), end
    return (token, []), i + 1


def _group(tokens: list[str], i: int, close: str) -> tuple[Any, int]:
    keyed = close == "}" or (close == ")" and tokens[i + 1:i + 2] == [":"])
    items: list[Any] = []
    fields: dict[Any, Any] = {}
    while tokens[i] != close:
        if keyed:
            key, i = (tokens[i], i + 1) if close == ")" else _value(tokens, i)
            assert tokens[i] == ":"
            fields[key], i = _value(tokens, i + 1)
        else:
            item, i = _value(tokens, i)
            items.append(item)
        if tokens[i] == ",":
            i += 1
    return (fields if keyed else items), i + 1


@dataclass
class Case:
    name: str
    spec: dict[str, Any]


def cases() -> list[Case]:
    found = [Case(str(p.relative_to(EAST)), parse_ron(p.read_text())) for p in CASE_FILES]
    b1 = next(c for c in found if c.name.endswith("Buffering/B_1.ron"))
    found += [Case(name, {**b1.spec, **extra}) for name, extra in VARIANTS.items()]
    return found


CASES = cases()


def _ehlo(capabilities: list[Any]) -> bytes:
    lines = ["example.org"]
    for cap in capabilities:
        name, args = cap
        if name == "StartTLS":
            lines.append("STARTTLS")
        elif name == "Auth":
            lines.append("AUTH " + " ".join(
                (mech[1][0] if mech[1] else mech[0]).upper() for mech in args[0]))
        else:
            raise AssertionError(f"capability {name} not understood")
    return b"".join(f"250{'-' if i < len(lines) - 1 else ' '}{line}\r\n".encode()
                    for i, line in enumerate(lines))


@dataclass
class Transcript:
    plaintext: bytearray = field(default_factory=bytearray)
    secure: bytearray = field(default_factory=bytearray)


async def serve(case: Case, context: ssl.SSLContext, record: Transcript,
                reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One connection, as the case scripts it: ``greeting`` replaces the 220; ``capabilities``
    and ``capabilities_tls`` are the EHLO lines before and inside TLS; ``override_response``
    answers a command (any case) with fixed text; ``hide_commands`` are answered 500;
    ``stls_response`` answers STARTTLS, and the upgrade follows only a 220 when
    ``stls_make_transition`` (default true) allows; ``ignore_commands_tls`` go unanswered inside
    TLS; ``hook_data`` is the reply to the message. MAIL, RCPT and DATA get 250/354 in any
    state, like a lax server, so a client that leaked would leak all of it."""
    spec = case.spec
    override = {k.lower(): v for k, v in spec.get("override_response", {}).items()}
    hidden = {c.lower() for c in spec.get("hide_commands", [])}
    ignored_tls = {c.lower() for c in spec.get("ignore_commands_tls", [])}
    # Ours, not EAST's: a reply given only inside TLS (a relay refusing our session there).
    override_tls = {k.lower(): v for k, v in spec.get("override_response_tls", {}).items()}
    hook = spec.get("hook_data", ("Pass", ["OK"]))
    tls = bool(spec.get("implicit_tls"))

    def reply(text: str | bytes) -> None:
        writer.write(text.encode() if isinstance(text, str) else text)

    try:
        reply(spec.get("greeting", "220 example.org ESMTP EAST\r\n"))
        in_data = False
        while line := await reader.readline():
            (record.secure if tls else record.plaintext).extend(line)
            if in_data:
                if line == b".\r\n":
                    in_data = False
                    reply(f"250 {hook[1][0]}\r\n")
                continue
            verb = line.split(b" ", 1)[0].strip().decode(errors="replace").lower()
            if tls and verb in ignored_tls:
                continue
            if tls and verb in override_tls:
                reply(override_tls[verb])
                await writer.drain()
                continue
            if verb in hidden:
                reply("500 Syntax error, command unrecognized\r\n")
            elif verb == "starttls" and not tls:
                response = override.get("starttls", spec.get("stls_response", "220 Go ahead\r\n"))
                reply(response)
                await writer.drain()
                if response.startswith("220") and spec.get("stls_make_transition", True):
                    await writer.start_tls(context)
                    tls = True
            elif verb in override:
                reply(override[verb])
            elif verb == "ehlo":
                reply(_ehlo(spec["capabilities_tls" if tls else "capabilities"]))
            elif verb == "helo":
                reply("250 example.org\r\n")
            elif verb == "data":
                in_data = True
                reply("354 End data with <CR><LF>.<CR><LF>\r\n")
            elif verb in ("mail", "rcpt", "rset", "noop"):
                reply("250 OK\r\n")  # a lax server, so a leaking client would really leak
            elif verb == "quit":
                reply("221 Bye\r\n")
                break
            else:
                reply("500 Syntax error, command unrecognized\r\n")
            await writer.drain()
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
        pass  # the client gave up on us: that is what many cases are for
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass


def _issue(directory: Path, name: str, *, self_signed: bool = False,
           expired: bool = False) -> tuple[CertFiles, Path]:
    """A certificate for 127.0.0.1 the test PKI cannot make: self-signed, or expired (from a CA
    returned for the client to trust, so that expiry is the only fault)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = ca_key if self_signed else ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=2)).not_valid_after(now + dt.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    leaf = (x509.CertificateBuilder().subject_name(subject)
            .issuer_name(subject if self_signed else ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=2))
            .not_valid_after(now - dt.timedelta(days=1) if expired else now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = CertFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.server_cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    files.server_key.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return files, files.ca_cert


@pytest.fixture(scope="module")
def certificates(pki: CertFiles, rogue_pki: CertFiles,
                 tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[CertFiles, Path]]:
    """Each certificate a case names: (what the server presents, the CA the client trusts)."""
    base = tmp_path_factory.mktemp("east-certs")
    other = make_test_pki(base / "other", hosts=("other.example.org",))
    expired, expired_ca = _issue(base / "expired", "expiry", expired=True)
    return {
        "": (pki, pki.ca_cert),
        "certs/example.org.pem": (pki, pki.ca_cert),
        "certs/example.org-self-signed.pem": (_issue(base / "self", "self", self_signed=True)[0],
                                              pki.ca_cert),
        "certs/example.org-unknown-root.pem": (rogue_pki, pki.ca_cert),
        "certs/other.example.org.pem": (other, other.ca_cert),
        "certs/example.org-expired.pem": (expired, expired_ca),
    }


@dataclass
class Outcome:
    sent: bool
    error_class: str | None
    permanent: bool
    transcript: Transcript


async def run_case(case: Case, certificates: dict[str, tuple[CertFiles, Path]]) -> Outcome:
    unknown = set(case.spec) - KNOWN
    assert not unknown, f"{case.name}: case keys not understood: {unknown}"
    server_certs, trusted = certificates[case.spec["cert"][1]["crt_path"]]
    context = server_tls_context(server_certs)
    record = Transcript()
    implicit = bool(case.spec.get("implicit_tls"))
    handlers: set[asyncio.Task[None]] = set()

    def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.create_task(serve(case, context, record, r, w)))

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context if implicit else None)
    port = server.sockets[0].getsockname()[1]
    pool = SmtpPool(RelayConfig("127.0.0.1", port, "implicit" if implicit else "starttls",
                                str(trusted), timeout=CLIENT_TIMEOUT, pool_size=1))
    try:
        await pool.send(ENVELOPE)
        outcome = Outcome(True, None, False, record)
    except DeliveryError as exc:
        step = next_step(exc.failure, attempts=1, seconds_until_give_up=GIVE_UP)
        outcome = Outcome(False, exc.failure.error_class.value, not step.retry, record)
    finally:
        await pool.close()
        server.close()
        await server.wait_closed()
        # The client hung up: the script ends at its next read; none outlives its case.
        if handlers:
            await asyncio.wait(handlers, timeout=CLIENT_TIMEOUT)
        for task in handlers:
            task.cancel()
    return outcome


LEAKS = (b"MAIL FROM", b"RCPT TO", b"DATA", CANARY)
GOOD_CERTIFICATES = ("", "certs/example.org.pem")
TOTALS: dict[str, int] = {"cases": 0, "leaks": 0, "permanent": 0, "hangs": 0, "sent": 0}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_east_case(case: Case, certificates: dict[str, tuple[CertFiles, Path]]) -> None:
    TOTALS["cases"] += 1
    try:
        outcome = await asyncio.wait_for(run_case(case, certificates), CASE_TIMEOUT)
    except TimeoutError:
        TOTALS["hangs"] += 1
        raise
    # A session under a certificate we must not trust is no better than plaintext.
    verified = case.spec["cert"][1]["crt_path"] in GOOD_CERTIFICATES
    unverified = outcome.transcript.plaintext + (b"" if verified else outcome.transcript.secure)
    leaked = [marker for marker in LEAKS if marker.upper() in bytes(unverified).upper()]
    TOTALS["leaks"] += bool(leaked)
    TOTALS["permanent"] += outcome.permanent
    TOTALS["sent"] += outcome.sent
    assert leaked == [], f"{case.name}: sent before verified TLS: {leaked}"
    # Every refusal in these cases comes before verified TLS: none may end the message.
    assert not outcome.permanent, f"{case.name}: failed for good with {outcome.error_class}"
    if outcome.sent:  # and then the message really went inside TLS
        assert CANARY in outcome.transcript.secure


def test_east_totals() -> None:
    if TOTALS["cases"] != len(CASES):
        pytest.skip("only some EAST cases ran")
    print(f"\nEAST: {TOTALS['cases']} cases ({len(CASE_FILES)} files + {len(VARIANTS)} variants),"
          f" {TOTALS['sent']} delivered inside TLS, {TOTALS['leaks']} plaintext leaks,"
          f" {TOTALS['permanent']} permanent failures on pre-TLS replies, {TOTALS['hangs']} hangs")
    assert (TOTALS["leaks"], TOTALS["permanent"], TOTALS["hangs"]) == (0, 0, 0)
    assert len(CASE_FILES) == 63


async def test_a_refused_greeting_retries_through_the_worker_and_gives_up_on_time(
    client: httpx.AsyncClient, keys: dict[str, str], settings: Settings, app: Starlette,
    certificates: dict[str, tuple[CertFiles, Path]],
) -> None:
    """EAST's greeting/554 through the real worker: retrying with the reason, and failed only
    once the retry window (RETRY_GIVE_UP_SECONDS) has run out."""
    case = next(c for c in CASES if c.name.endswith("greeting/554.ron"))
    record = Transcript()
    context = server_tls_context(certificates[""][0])
    server = await asyncio.start_server(
        lambda r, w: serve(case, context, record, r, w), "127.0.0.1", 0)
    relay = replace(settings, smtp_port=server.sockets[0].getsockname()[1])
    db = app.state.resources.db
    try:
        message_id = (await send(client, keys["sender"])).json()["id"]
        await run_worker(relay)
        status = (await client.get(f"/v1/messages/{message_id}", headers=auth(keys["sender"])))
        assert (status.json()["status"], status.json()["last_error_class"]) == (
            "retrying", "smtp_before_tls")
        await db.execute("UPDATE messages SET next_attempt_at = now(),"
                         " give_up_at = now() + interval '5 s'")
        await run_worker(relay)
        status = (await client.get(f"/v1/messages/{message_id}", headers=auth(keys["sender"])))
        assert (status.json()["status"], status.json()["last_error_class"]) == (
            "failed", "smtp_before_tls+gave_up")
    finally:
        server.close()
        await server.wait_closed()
    assert b"MAIL" not in bytes(record.plaintext).upper()


async def test_a_relay_refusing_our_session_inside_tls_fails_no_message(
    certificates: dict[str, tuple[CertFiles, Path]],
) -> None:
    """Postfix answers EHLO with 504 5.5.2 when our host name is not fully qualified: a
    configuration matter on one side, so every message waits instead of failing for good."""
    setup = next(c for c in CASES if c.name.endswith("setup.ron"))
    refusing = Case("EHLO refused inside TLS", {**setup.spec, "override_response_tls": {
        "EHLO": "504 5.5.2 <pod-7f9c>: Helo command rejected: need fully-qualified hostname\r\n"}})
    outcome = await asyncio.wait_for(run_case(refusing, certificates), CASE_TIMEOUT)
    assert (outcome.sent, outcome.permanent) == (False, False)
    assert outcome.error_class == "smtp_temporary"
