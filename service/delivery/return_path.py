"""Per-message return paths: ``bounce+<opaque>@BOUNCE_DOMAIN``.

The opaque part is the message id and a keyed tag over it, base32 so that a relay that folds the
case of local parts cannot break it. It names no address, and only we can make a valid one, so a
bounce to an address we did not hand out cannot touch any message.
"""

from __future__ import annotations

import base64
import hmac
import uuid

from service.core.crypto import Keyring

_PREFIX = "bounce+"
_TAG_BYTES = 10


def _tag(keyring: Keyring, message_id: uuid.UUID) -> bytes:
    return keyring.mac(b"return-path", message_id.bytes)[:_TAG_BYTES]


def return_path(keyring: Keyring, domain: str, message_id: uuid.UUID) -> str:
    raw = message_id.bytes + _tag(keyring, message_id)
    opaque = base64.b32encode(raw).decode().rstrip("=").lower()
    return f"{_PREFIX}{opaque}@{domain}"


def is_return_path_shape(address: str, domain: str) -> bool:
    """Could be one of ours (checked without a key, to refuse other recipients at RCPT)."""
    local, _, host = address.rpartition("@")
    return host.lower() == domain.lower() and local.lower().startswith(_PREFIX)


def message_of(keyring: Keyring, domain: str, address: str) -> uuid.UUID | None:
    """The message a return path was made for, or None for anything we did not make."""
    if not is_return_path_shape(address, domain):
        return None
    opaque = address.rpartition("@")[0][len(_PREFIX):].upper()
    try:
        raw = base64.b32decode(opaque + "=" * (-len(opaque) % 8))
    except ValueError:
        return None
    if len(raw) != 16 + _TAG_BYTES:
        return None
    message_id = uuid.UUID(bytes=raw[:16])
    if not hmac.compare_digest(raw[16:], _tag(keyring, message_id)):
        return None
    return message_id
