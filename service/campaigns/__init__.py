"""Campaigns: the campaigns API, audience upload and selection, fan-out in lanes, pacing and
progress. May import core, db, audit, access, consent and subjects; other capabilities use what
is named here.
"""

from service.campaigns.fanout import fan_out
from service.campaigns.ownership import own_campaign

__all__ = ["fan_out", "own_campaign"]
