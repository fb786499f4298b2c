"""Campaigns: the campaigns API, audience upload and selection, fan-out in lanes, pacing and
progress. May import core, db, audit, access, consent and subjects; other capabilities use what
is named here (the staff pages act on campaigns through ``actions`` only).
"""

from service.campaigns import actions
from service.campaigns.audience import AudienceReport
from service.campaigns.fanout import fan_out
from service.campaigns.input import NewCampaign, parse_campaign
from service.campaigns.ownership import own_campaign, visible_campaign
from service.campaigns.pacing import Progress

__all__ = ["AudienceReport", "NewCampaign", "Progress", "actions", "fan_out", "own_campaign",
           "parse_campaign", "visible_campaign"]
