"""What a campaign adds to its emails: the teaser, its links and, if it counts them, tracking."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from service.crypto import Keyring
from service.engagement import tokens


@dataclass(frozen=True, slots=True)
class CampaignLook:
    teaser: str | None
    links: tuple[str, ...]
    tracking: bool
    # Opened once per worker; None once the campaign has ended (see migration 0007).
    link_key: bytes | None = None

    def tracked_links(
        self, base_url: str, keyring: Keyring, campaign_id: uuid.UUID | None
    ) -> tuple[list[tuple[str, str]], str | None]:
        """The links as (destination, URL) and the pixel URL for one email. With tracking, every
        token of the email shares one fresh nonce, so a reader who opens and clicks twice counts
        once in each unique figure; without it, links are given as they are."""
        if not self.tracking or campaign_id is None:
            return [(link, link) for link in self.links], None
        nonce = tokens.new_nonce()
        links = [
            (link, f"{base_url}/t/c/{tokens.mint(keyring, campaign_id, index, nonce)}")
            for index, link in enumerate(self.links)
        ]
        return links, f"{base_url}/t/o/{tokens.mint(keyring, campaign_id, None, nonce)}"


# Single messages (reminders, results-ready): no teaser, no links, never tracked.
NO_CAMPAIGN = CampaignLook(None, (), False)
