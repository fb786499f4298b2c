"""DKIM signatures (RFC 6376, relaxed/relaxed): rsa-sha256, and ed25519-sha256 (RFC 8463) beside
it when DKIM_ED25519_* is set.

Signed here with ``cryptography`` rather than with dkimpy's ``sign``: dkimpy re-reads the key
from its PEM and does the RSA operation in pure Python on every call, ~9 ms a message, where
OpenSSL takes well under one, with the key parsed once per worker. dkimpy stays the independent
check: the tests verify what the relay received with its verifier (``tests/test_dkim.py``).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from service.core.config import ConfigError, Settings
from service.delivery.compose import Envelope

KeyType = Literal["rsa", "ed25519"]
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

# What the signature covers, in this order, when present. Each is listed twice: the second
# names an instance that does not exist, so a second From or Subject added on the way (the
# usual replay trick) breaks the signature instead of riding on it (RFC 6376 section 8.15).
SIGNED = (
    "from", "to", "subject", "date", "message-id", "mime-version", "content-type",
    "list-unsubscribe", "list-unsubscribe-post", "list-id",
)
RSA_BITS = 2048
# RFC 8301: verifiers ignore RSA keys under 1024 bits; 2048 is what the keygen makes.
RSA_MIN_BITS = 1024
_WSP = re.compile(rb"[ \t]+")
_LINE_END_WSP = re.compile(rb"[ \t]+\r\n")


@dataclass(frozen=True, slots=True)
class Key:
    selector: str
    private: PrivateKey

    @property
    def algorithm(self) -> str:
        return "rsa-sha256" if isinstance(self.private, rsa.RSAPrivateKey) else "ed25519-sha256"

    def sign(self, data: bytes) -> bytes:
        if isinstance(self.private, rsa.RSAPrivateKey):
            return self.private.sign(data, padding.PKCS1v15(), hashes.SHA256())
        # RFC 8463 section 3: Ed25519 signs the SHA-256 hash of the header data, not the data.
        return self.private.sign(hashlib.sha256(data).digest())


class DkimSigner:
    """One per worker process: the keys are read and parsed once, at start."""

    def __init__(self, domain: str, keys: list[Key]) -> None:
        self.domain = domain
        # The RSA signature goes on top: it is the one every receiver can check.
        self.keys = keys

    @classmethod
    def from_settings(cls, settings: Settings) -> DkimSigner | None:
        if not settings.dkim_domain:
            if settings.dkim_key_file or settings.dkim_ed25519_key_file:
                raise ConfigError("DKIM_DOMAIN", "is required when a DKIM key file is set")
            return None
        if not settings.dkim_selector or not settings.dkim_key_file:
            raise ConfigError("DKIM_SELECTOR", "and DKIM_KEY_FILE are required with DKIM_DOMAIN")
        keys = [Key(settings.dkim_selector, load_key(settings.dkim_key_file, "rsa",
                                                     "DKIM_KEY_FILE"))]
        if settings.dkim_ed25519_selector and settings.dkim_ed25519_key_file:
            keys.append(Key(settings.dkim_ed25519_selector, load_key(
                settings.dkim_ed25519_key_file, "ed25519", "DKIM_ED25519_KEY_FILE")))
        return cls(settings.dkim_domain, keys)

    def sign(self, envelope: Envelope) -> Envelope:
        return replace(envelope, data=self.sign_message(envelope.data))

    def sign_message(self, message: bytes) -> bytes:
        head, sep, body = message.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("no blank line ends the message's header")
        fields = _fields(head + b"\r\n")
        present = {name for name, _ in fields}
        names = [name for name in SIGNED if name in present]
        names += names  # see SIGNED
        body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest()).decode()
        selected = _select(fields, names)
        timestamp = int(time.time())
        signatures = []
        for key in self.keys:
            value = (
                f"v=1; a={key.algorithm}; c=relaxed/relaxed; d={self.domain}; "
                f"s={key.selector}; t={timestamp};\r\n h={_fold_names(names)};\r\n bh={body_hash};"
                "\r\n b="
            )
            # The signature covers the header with b= empty, canonicalised, and no final CRLF.
            signed = selected + relaxed_header("dkim-signature", value.encode())[:-2]
            b = base64.b64encode(key.sign(signed)).decode()
            signatures.append(f"DKIM-Signature: {value}{_fold(b)}\r\n".encode())
        return b"".join(signatures) + message


def _fields(head: bytes) -> list[tuple[str, bytes]]:
    """(lower-cased name, raw value with its folding) for each header field, in order."""
    fields: list[tuple[str, bytes]] = []
    for line in head.split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + b"\r\n" + line)
        else:
            raw_name, _, value = line.partition(b":")
            fields.append((raw_name.decode("ascii").strip().lower(), value))
    return fields


def _select(fields: list[tuple[str, bytes]], names: list[str]) -> bytes:
    """The canonical header fields named, each name taking its instances from the bottom up
    (RFC 6376 section 5.4.2); a name with none left contributes nothing."""
    used: dict[str, int] = {}
    out = []
    for name in names:
        instances = [value for field_name, value in fields if field_name == name]
        n = used.get(name, 0)
        used[name] = n + 1
        if n < len(instances):
            out.append(relaxed_header(name, instances[-1 - n]))
    return b"".join(out)


def relaxed_header(name: str, value: bytes) -> bytes:
    """RFC 6376 section 3.4.2: lower-cased name, value unfolded, runs of WSP made one space,
    WSP around the colon and at the end removed."""
    unfolded = value.replace(b"\r\n", b"")
    return name.lower().encode() + b":" + _WSP.sub(b" ", unfolded).strip(b" ") + b"\r\n"


def relaxed_body(body: bytes) -> bytes:
    """RFC 6376 section 3.4.4: WSP at line ends removed, runs made one space, empty lines at the
    end removed; a non-empty body ends with one CRLF."""
    body = _LINE_END_WSP.sub(b"\r\n", body)
    body = _WSP.sub(b" ", body)
    body = body.rstrip(b"\r\n")
    if body.endswith(b" "):
        body = body.rstrip(b" ")
    return body + b"\r\n" if body else b""


def _fold_names(names: list[str], width: int = 70) -> str:
    lines = [""]
    for name in names:
        if lines[-1] and len(lines[-1]) + len(name) > width:
            lines.append("")
        lines[-1] += name + ":"
    return "\r\n  ".join(lines)[:-1]


def _fold(b64: str, width: int = 72) -> str:
    # Whitespace inside b= is ignored by verifiers; lines stay short for every relay.
    return "\r\n  ".join(b64[i:i + width] for i in range(0, len(b64), width))


def load_key(path: str, kind: KeyType, variable: str) -> PrivateKey:
    """A PEM private key; for ed25519 also dkimpy's own format (the base64 32-byte seed)."""
    data = Path(path).read_bytes()
    try:
        if kind == "ed25519" and not data.lstrip().startswith(b"-----"):
            return ed25519.Ed25519PrivateKey.from_private_bytes(base64.b64decode(data.strip()))
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ConfigError(variable, "is not an unencrypted private key") from None
    if kind == "rsa" and isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < RSA_MIN_BITS:
            raise ConfigError(variable, f"RSA keys need at least {RSA_MIN_BITS} bits")
        return key
    if kind == "ed25519" and isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    raise ConfigError(variable, f"is not an {kind} private key")


def generate_key(kind: KeyType) -> tuple[bytes, str]:
    """A new private key as PEM, and its public half as the value of a DKIM TXT record."""
    private: PrivateKey
    if kind == "rsa":
        private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        # RFC 6376 section 3.6.1: p= is the DER SubjectPublicKeyInfo.
        public = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    else:
        private = ed25519.Ed25519PrivateKey.generate()
        # RFC 8463 section 4.2: p= is the raw 32-byte public key.
        public = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return pem, f"v=DKIM1; k={kind}; p={base64.b64encode(public).decode()}"


def dns_record(domain: str, selector: str, txt: str) -> str:
    """The zone-file line; a TXT string holds at most 255 bytes, so longer values are cut into
    several strings, which resolvers hand back joined."""
    chunks = " ".join(f'"{txt[i:i + 255]}"' for i in range(0, len(txt), 255))
    return f"{selector}._domainkey.{domain.rstrip('.')}. IN TXT {chunks}"


def write_private_key(path: Path, pem: bytes) -> None:
    """Created with mode 0600, and never over an existing file (a key in use stays in use)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
