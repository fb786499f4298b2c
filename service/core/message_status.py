"""A message's statuses (the CHECK of ``messages.status``, migration 0023), in the two groups
that the metrics and retention read: still in progress, and final; and what the totals of
migration 0030 count besides, the messages retention deleted."""

IN_FLIGHT = ("scheduled", "queued", "sending", "retrying")
FINAL = ("sent", "failed", "rejected", "bounced", "cancelled")
RETIRED = "retired"
