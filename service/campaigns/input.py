"""Validation of ``POST /v1/campaigns`` bodies and audience selections. Pure, apart from the
subject gate, which the route applies to the subject and teaser this returns."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from service.consent import parse_tags
from service.core.fields import flag, only, text_field, timestamp
from service.core.problems import invalid

_FIELDS = ("name", "subject", "content", "teaser", "links", "tracking", "rate_per_second",
           "scheduled_at")
MAX_LINKS = 50
LINK_MAX = 2000
# The name, the subject and the teaser: a line, not a text.
LINE_MAX = 200


@dataclass(frozen=True, slots=True)
class NewCampaign:
    name: str
    subject: str
    content: str | None
    teaser: str | None
    links: list[str]
    tracking: bool
    rate_per_second: float
    scheduled_at: dt.datetime | None


def _links(body: dict[str, Any]) -> list[str]:
    links = body.get("links", [])
    if not isinstance(links, list) or len(links) > MAX_LINKS or not all(
        isinstance(u, str) and len(u) <= LINK_MAX and u.isprintable() and " " not in u
        and urlsplit(u).scheme == "https" and urlsplit(u).netloc for u in links
    ):
        raise invalid(f"`links` must be a list of at most {MAX_LINKS} https URLs",
                      fields=["links"])
    return links


def _rate(body: dict[str, Any]) -> float:
    rate = body.get("rate_per_second", 50)
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0.1 <= rate <= 10000:
        raise invalid("`rate_per_second` must be between 0.1 and 10000",
                      fields=["rate_per_second"])
    return float(rate)


def parse_campaign(body: dict[str, Any], content_max_bytes: int) -> NewCampaign:
    only(body, _FIELDS)
    name = str(text_field(body, "name", LINE_MAX))
    subject = str(text_field(body, "subject", LINE_MAX))
    content = text_field(body, "content", content_max_bytes, optional=True)
    teaser = text_field(body, "teaser", LINE_MAX, optional=True)
    if content is None and teaser is None:
        raise invalid("A campaign needs `content` (shown in the portal) or a `teaser`",
                      fields=["content", "teaser"])
    return NewCampaign(
        name, subject, content, teaser, _links(body), flag(body, "tracking", default=False),
        _rate(body), timestamp(body, "scheduled_at", optional=True),
    )


def selected_tag(selection: dict[str, Any]) -> str | None:
    """``{"select": "authorized"}``, or ``{"select": "tag", "tag": "spring-fair"}``: contacts
    with an active marketing authorization, all of them or those with the tag."""
    if selection == {"select": "authorized"}:
        return None
    if selection.get("select") == "tag" and set(selection) == {"select", "tag"}:
        return parse_tags({"tag": [selection["tag"]]}, "tag")[0]
    raise invalid('Select {"select": "authorized"} or {"select": "tag", "tag": "..."}',
                  fields=["select"])
