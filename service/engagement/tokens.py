"""Tracking tokens: which campaign, which link, when the email was composed, and a random value
that names no one.

A token is ``version | campaign id | target | nonce | sealed time | tag``. The nonce is drawn
fresh when the email is composed and is stored nowhere: it exists only inside the delivered
email, so a database or Redis holder cannot map a token, or a counted open, back to a recipient.
It lets repeat opens of one message be counted once (HyperLogLog). The time lets a hit seconds
after delivery be told apart as a machine's (see ``machines``); it is sealed (XOR with a keyed
pad drawn from the nonce) because a readable send time could be matched against
``messages.sent_at`` by whoever holds the database and a token. The tag is an HMAC over the rest
under a key derived from the master keyring: a forged or edited token counts nowhere.

Version 1 tokens (no time) are still read: they sit in emails delivered before version 2.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass

from service.core.crypto import Keyring, encode_token

_VERSION = 2
_NONCE_BYTES = 16
_TAG_BYTES = 16
_TIME_BYTES = 4
_BODY = 1 + 16 + 1 + _NONCE_BYTES
_LENGTHS = {1: _BODY + _TAG_BYTES, 2: _BODY + _TIME_BYTES + _TAG_BYTES}
OPEN = 0  # the target byte of a pixel; a click on link i carries i + 1
MAX_LINKS = 250


@dataclass(frozen=True, slots=True)
class Hit:
    campaign_id: uuid.UUID
    link: int | None  # None for an open
    nonce: bytes
    composed_at: int | None = None  # Unix seconds; None in a version 1 token


def new_nonce() -> bytes:
    """One per email, shared by its pixel and its links, stored nowhere."""
    return secrets.token_bytes(_NONCE_BYTES)


def _pad(keyring: Keyring, nonce: bytes) -> int:
    return int.from_bytes(keyring.mac(b"tracking-time", nonce)[:_TIME_BYTES], "big")


def mint(
    keyring: Keyring, campaign_id: uuid.UUID, link: int | None, nonce: bytes,
    composed_at: int | None = None,
) -> str:
    """The token of one pixel or link; ``composed_at`` defaults to now, as an email is composed
    just before it is handed to the relay."""
    if link is not None and not 0 <= link < MAX_LINKS:
        raise ValueError("link index out of range")
    if len(nonce) != _NONCE_BYTES:
        raise ValueError("a nonce is 16 bytes")
    target = OPEN if link is None else link + 1
    when = int(time.time()) if composed_at is None else composed_at
    sealed = (when ^ _pad(keyring, nonce)).to_bytes(_TIME_BYTES, "big")
    body = bytes([_VERSION]) + campaign_id.bytes + bytes([target]) + nonce + sealed
    return encode_token(body + keyring.mac(b"tracking", body)[:_TAG_BYTES])


def read(keyring: Keyring, token: str) -> Hit | None:
    """The hit a genuine token records, or None for anything else."""
    version = next((v for v, n in _LENGTHS.items() if len(token) == (n * 4 + 2) // 3), None)
    if version is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        return None
    if len(raw) != _LENGTHS[version] or raw[0] != version or encode_token(raw) != token:
        # The last character carries spare bits: only the one canonical spelling counts.
        return None
    body, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
    if not hmac.compare_digest(tag, keyring.mac(b"tracking", body)[:_TAG_BYTES]):
        return None
    target, nonce = body[17], body[18:_BODY]
    composed_at = None
    if version == 2:
        composed_at = int.from_bytes(body[_BODY:], "big") ^ _pad(keyring, nonce)
    return Hit(uuid.UUID(bytes=body[1:17]), None if target == OPEN else target - 1, nonce,
               composed_at)
