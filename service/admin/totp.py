"""The dashboard's second factor: TOTP (RFC 6238), one secret per admin key.

The secret is sealed under the master key, bound to its key's id, and is shown only while its
enrolment waits for a first code (on the enrolment page) or once by ``enrol-totp``. A code is
accepted only for a time-step newer than the last one accepted, so an overheard code cannot be
used again, not even within its 30 seconds.
"""

from __future__ import annotations

import hmac
import io
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Literal

import asyncpg
import pyotp
import segno

from service import audit
from service.core.config import Settings
from service.core.crypto import Keyring
from service.db.pool import create_db_pool
from service.db.queries import QUERIES

ISSUER = "hipaa-mail"
# RFC 6238 section 5.2: one step of clock drift either way, and no more.
_DRIFT_STEPS = 1
_DIGITS = 6

Verdict = Literal["accepted", "wrong", "replayed"]


@dataclass(frozen=True, slots=True)
class Enrolment:
    secret: str
    confirmed: bool


def _aad(api_key_id: uuid.UUID) -> bytes:
    return api_key_id.bytes + b"totp"


async def enrolment(
    db: asyncpg.Pool | asyncpg.Connection, keyring: Keyring, api_key_id: uuid.UUID
) -> Enrolment | None:
    row = await db.fetchrow(QUERIES.admin_totp, api_key_id)
    if row is None:
        return None
    secret = keyring.open(bytes(row["secret_sealed"]), _aad(api_key_id)).decode()
    return Enrolment(secret, row["confirmed"])


async def begin(
    db: asyncpg.Pool | asyncpg.Connection, keyring: Keyring, api_key_id: uuid.UUID, *,
    by_operator: bool,
) -> str | None:
    """A new secret for the key. The operator's is in use at once and replaces any other; the
    sign-in page's waits for its first code and is refused (None) when the key has a confirmed
    one: the page may start an enrolment, never undo one."""
    # 160 bits, the length RFC 4226 recommends for the shared secret.
    secret = pyotp.random_base32(32)
    stored = await db.fetchval(
        QUERIES.upsert_admin_totp, api_key_id, keyring.seal(secret.encode(), _aad(api_key_id)),
        by_operator,
    )
    return secret if stored else None


async def enrol_by_operator(db: asyncpg.Pool, keyring: Keyring, key_id: str) -> str | None:
    """The set-up link of a new secret, in use at once, for the admin key whose public id is
    ``key_id`` (None: there is no such unrevoked admin key). The key's dashboard sessions end:
    they were opened with the factor this one replaces."""
    async with db.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(QUERIES.staff_key_by_key_id, key_id)
        if row is None:
            return None
        secret = await begin(conn, keyring, row["id"], by_operator=True)
        assert secret is not None
        await conn.execute(QUERIES.delete_admin_sessions_of_key, row["id"])
        await audit.record(conn, actor="operator", action="admin.totp.enrol",
                           object_type="api_key", object_id=key_id, outcome="ok",
                           detail="enrol-totp")
    return provisioning_uri(secret, row["name"])


async def check(
    db: asyncpg.Pool | asyncpg.Connection, secret: str, api_key_id: uuid.UUID, code: str,
    now: float | None = None,
) -> Verdict:
    """Accepts ``code`` for the key (confirming a pending enrolment) at most once."""
    step = _matching_step(secret, code, time.time() if now is None else now)
    if step is None:
        return "wrong"
    accepted = await db.fetchval(QUERIES.accept_admin_totp_step, api_key_id, step)
    return "accepted" if accepted else "replayed"


def _matching_step(secret: str, code: str, now: float) -> int | None:
    code = "".join(code.split())
    if len(code) != _DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=_DIGITS)
    current = int(now // totp.interval)
    found = None
    # Every candidate is compared, in constant time, whichever matches.
    for step in range(current - _DRIFT_STEPS, current + _DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


async def enrol_command(settings: Settings, key_id: str) -> int:
    """``python -m service enrol-totp``: the QR code for the terminal on stderr, the link alone
    on stdout."""
    pool = await create_db_pool(settings, min_size=1, max_size=1)
    try:
        uri = await enrol_by_operator(pool, settings.keyring, key_id)
    finally:
        await pool.close()
    if uri is None:
        print(f"enrol-totp: no unrevoked admin or marketer key has the id {key_id!r}",
              file=sys.stderr)
        return 1
    out = io.StringIO()
    segno.make(uri, error="m").terminal(out=out, compact=True)
    print(out.getvalue(), file=sys.stderr)
    print("scan the code above (or add the link below) in an authenticator app; it is shown only "
          "once, and the key's dashboard sessions have ended:", file=sys.stderr)
    print(uri)
    return 0


def provisioning_uri(secret: str, account: str) -> str:
    return pyotp.TOTP(secret, digits=_DIGITS).provisioning_uri(name=account, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The URI as a QR code in inline SVG: drawn here, so the page loads no image and the CSP
    (``img-src 'self'``, no inline style) needs no exception."""
    svg: str = segno.make(uri, error="m").svg_inline(
        scale=5, border=4, svgclass="qr", title="QR code of the authenticator set-up link",
    )
    return svg.replace("<svg ", "<svg role=\"img\" ", 1)

