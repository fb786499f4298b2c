"""Standard Webhooks secrets and signatures (https://www.standardwebhooks.com).

A secret is ``whsec_`` and the base64 of 32 random bytes. A request is signed with the decoded
bytes: ``v1,`` and the base64 HMAC-SHA256 of ``{webhook-id}.{webhook-timestamp}.{body}``. While
a rotated-out secret is still honoured, the header carries one signature per secret, separated
by a space, and a receiver accepts the request when any of them verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from service.core.randomness import random_bytes

SECRET_PREFIX = "whsec_"  # noqa: S105 # nosec B105 (a prefix, not a secret)
SECRET_BYTES = 32


def new_secret() -> bytes:
    return random_bytes(SECRET_BYTES)


def shown(secret: bytes) -> str:
    """The secret as the admin copies it into the receiver."""
    return SECRET_PREFIX + base64.b64encode(secret).decode("ascii")


def signature(secrets: Sequence[bytes], webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()
        for secret in secrets
    )


def headers(secrets: Sequence[bytes], webhook_id: str, timestamp: int,
            body: bytes) -> dict[str, str]:
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secrets, webhook_id, timestamp, body),
        "content-type": "application/json",
    }
