"""What a campaign adds to its emails: the teaser, its links and, if it counts them, tracking."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from service import engagement
from service.core import paths
from service.core.crypto import Keyring


@dataclass(frozen=True, slots=True)
class CampaignLook:
    teaser: str | None
    links: tuple[str, ...]
    tracking: bool
    # Opened once per worker; None once the campaign has ended (see migration 0007).
    link_key: bytes | None = None

    @classmethod
    def of(cls, campaign: Any, link_key: bytes | None = None) -> CampaignLook:
        """From a row with the campaign's teaser, links and tracking."""
        return cls(campaign["teaser"], tuple(campaign["links"]), campaign["tracking"], link_key)

    def tracked_links(
        self, base_url: str, keyring: Keyring, campaign_id: uuid.UUID | None,
        placeholder: str | None = None,
    ) -> tuple[list[str], str | None]:
        """The URLs the links follow, and the pixel URL, for one email. With tracking, every
        token of the email shares one fresh nonce, so a reader who opens and clicks twice counts
        once in each unique figure; without it, links are given as they are. A preview passes a
        ``placeholder`` for every token: a real one would count its opens and clicks."""
        if not self.tracking or campaign_id is None:
            return list(self.links), None
        nonce = engagement.new_nonce()

        def token(target: int | None) -> str:
            return placeholder or engagement.mint(keyring, campaign_id, target, nonce)

        links = [paths.link(base_url, paths.TRACK_CLICK, token(index))
                 for index in range(len(self.links))]
        return links, paths.link(base_url, paths.TRACK_OPEN, token(None))


# Single messages (reminders, results-ready): no teaser, no links, never tracked.
NO_CAMPAIGN = CampaignLook(None, (), False)
