"""Tracking tokens: which campaign, which link, and a random value that names no one.

A token is ``version | campaign id | target | nonce | tag``. The nonce is drawn fresh when the
email is composed and is stored nowhere: it exists only inside the delivered email, so a database
or Redis holder cannot map a token, or a counted open, back to a recipient. It lets repeat opens
of one message be counted once (HyperLogLog). The tag is an HMAC over the rest under a key
derived from the master keyring: a forged or edited token counts nowhere.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import uuid
from dataclasses import dataclass

from service.core.crypto import Keyring, encode_token

_VERSION = 1
_NONCE_BYTES = 16
_TAG_BYTES = 16
_LENGTH = 1 + 16 + 1 + _NONCE_BYTES + _TAG_BYTES
OPEN = 0  # the target byte of a pixel; a click on link i carries i + 1
MAX_LINKS = 250


@dataclass(frozen=True, slots=True)
class Hit:
    campaign_id: uuid.UUID
    link: int | None  # None for an open
    nonce: bytes


def new_nonce() -> bytes:
    """One per email, shared by its pixel and its links, stored nowhere."""
    return secrets.token_bytes(_NONCE_BYTES)


def mint(keyring: Keyring, campaign_id: uuid.UUID, link: int | None, nonce: bytes) -> str:
    if link is not None and not 0 <= link < MAX_LINKS:
        raise ValueError("link index out of range")
    if len(nonce) != _NONCE_BYTES:
        raise ValueError("a nonce is 16 bytes")
    target = OPEN if link is None else link + 1
    body = bytes([_VERSION]) + campaign_id.bytes + bytes([target]) + nonce
    return encode_token(body + keyring.mac(b"tracking", body)[:_TAG_BYTES])


def read(keyring: Keyring, token: str) -> Hit | None:
    """The hit a genuine token records, or None for anything else."""
    if len(token) != (_LENGTH * 4 + 2) // 3:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        return None
    if len(raw) != _LENGTH or raw[0] != _VERSION or encode_token(raw) != token:
        # The last character carries two spare bits: only the one canonical spelling counts.
        return None
    body, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
    if not hmac.compare_digest(tag, keyring.mac(b"tracking", body)[:_TAG_BYTES]):
        return None
    target = body[17]
    return Hit(uuid.UUID(bytes=body[1:17]), None if target == OPEN else target - 1, body[18:])
