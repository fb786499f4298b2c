"""The subject rules, applied again when a scheduled message comes due: an admin may have taken
its subject off the approved list, or the service moved to ``SUBJECT_MODE=allowlist``, since it
was accepted. Consent is the delivery job's own check, made for every message."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import asyncpg

from service.core.config import Settings
from service.core.crypto import Keyring
from service.db.queries import QUERIES
from service.subjects import SubjectGate


def known_names(keyring: Keyring, contact_id: uuid.UUID | None,
                name_sealed: bytes | None) -> tuple[str, ...]:
    """The recipient's name as the clinic recorded it, so a subject cannot carry it."""
    if contact_id is None or name_sealed is None:
        return ()
    return (keyring.open(name_sealed, contact_id.bytes + b"name").decode(),)


class SubjectRecheck:
    """One per worker. The detector's lexicon is loaded on the first scheduled message, so a
    worker that never meets one never pays for it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._gate: SubjectGate | None = None

    async def refusals(self, db: asyncpg.Pool,
                       rows: Sequence[asyncpg.Record]) -> dict[uuid.UUID, str]:
        """The claimed scheduled messages whose subject is now refused, with the refusal's
        category."""
        scheduled = [row for row in rows if row["scheduled"]]
        if not scheduled:
            return {}
        if self._gate is None:
            # A quarter of a second of reading: off the event loop, where SMTP sessions run.
            self._gate = await asyncio.to_thread(SubjectGate, self._settings.clinic_name)
        context = {row["id"]: row for row in await db.fetch(
            QUERIES.scheduled_recipients, [row["id"] for row in scheduled])}
        keyring = self._settings.keyring
        refused = {}
        for row in scheduled:
            mid: uuid.UUID = row["id"]
            recipient = context[mid]
            decision = await self._gate.decide(
                db, self._settings.subject_mode, row["subject"], recipient["organization_id"],
                recipient_email=keyring.open(row["recipient_sealed"],
                                             mid.bytes + b"recipient").decode(),
                recipient_names=known_names(keyring, recipient["contact_id"],
                                            recipient["name_sealed"]),
                keep=True,
            )
            if not decision.ok:
                assert decision.category is not None  # every refusal has one
                refused[mid] = decision.category
        return refused
