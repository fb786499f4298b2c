"""A campaign's email as the worker would send it, for the marketer to read before sending.

Rendered by the worker's own code (``sender.composer_for`` and ``sender.render_email``), so the
preview follows every change to the email's wording; only the recipient and the tokens are
placeholders: a real portal, unsubscribe or tracking token would act, or count, when followed.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from service.core.config import Settings
from service.delivery.campaign_look import CampaignLook
from service.delivery.sender import composer_for, render_email

PLACEHOLDER_RECIPIENT = "patient@example.com"
PLACEHOLDER_TOKEN = "preview"  # noqa: S105 - a stand-in, shown on the page


@dataclass(frozen=True, slots=True)
class EmailPreview:
    sender: str
    recipient: str
    subject: str
    text: str
    html: str


def preview_campaign(settings: Settings, campaign: Any) -> EmailPreview:
    """``campaign`` as ``campaigns.visible_campaign`` reads it."""
    look = CampaignLook.of(campaign)
    base = settings.public_base_url
    envelope = render_email(
        composer_for(settings), base, recipient=PLACEHOLDER_RECIPIENT,
        subject=campaign["subject"], kind="secure_message", teaser=look.teaser,
        tracked=look.tracked_links(base, settings.keyring, campaign["id"], PLACEHOLDER_TOKEN),
        token=PLACEHOLDER_TOKEN, unsubscribe=PLACEHOLDER_TOKEN,
    )
    message = email.message_from_bytes(envelope.data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)

    def part(subtype: str) -> str:
        found = message.get_body((subtype,))
        assert isinstance(found, EmailMessage)
        return str(found.get_content())

    return EmailPreview(str(message["From"]), str(message["To"]), str(message["Subject"]),
                        part("plain"), part("html"))
