"""Whether a machine made an open or a click: decided when the hit arrives, from the request
alone, and then forgotten; only the answer reaches a counter.

Apple Mail Privacy Protection fetches every image of an email when it reaches the mailbox,
whether or not anyone reads it; Gmail's and Yahoo's (and so AOL's) image proxies fetch through
agents of their own; mail security gateways follow every link of an incoming email to scan it;
chat and social apps fetch a link to draw its preview. Counted as people's, they inflate open and
click rates. A hit is a machine's when

- it is a ``HEAD`` request (a mail client showing an image, or a person following a link,
  sends ``GET``);
- it comes sooner after the email was composed (which is just before delivery) than a person
  reads: prefetches and scans happen on arrival;
- its user agent is missing, is Apple's proxy's bare ``Mozilla/5.0``, or names a known proxy,
  scanner or preview fetcher (``AGENTS``).

What is left is counted as people's: an unknown machine with a browser's user agent, hitting
later, is indistinguishable from a person, so human figures are an upper bound.
"""

from __future__ import annotations

# Lower case; a user agent containing any of these is a machine's. Gmail's proxy also fetches
# when a reader first opens the email, but it caches and refetches on its own, so its hits say
# nothing reliable about people.
AGENTS = (
    "googleimageproxy", "yahoomailproxy", "bot", "crawler", "spider", "headlesschrome",
    "barracuda", "mimecast", "proofpoint", "facebookexternalhit", "whatsapp", "preview",
)
APPLE_PROXY_AGENT = "Mozilla/5.0"


def is_machine(
    method: str, user_agent: str | None, seconds_since_composed: float | None,
    machine_seconds: int,
) -> bool:
    """``seconds_since_composed`` is None for a token that carries no time (version 1)."""
    if method.upper() == "HEAD":
        return True
    if seconds_since_composed is not None and seconds_since_composed < machine_seconds:
        return True
    agent = (user_agent or "").strip()
    if not agent or agent == APPLE_PROXY_AGENT:
        return True
    lowered = agent.lower()
    return any(name in lowered for name in AGENTS)
