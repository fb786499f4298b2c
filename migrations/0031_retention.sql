-- Retention of message rows (RETENTION_DAYS, service/retention): rows older than the period, in
-- a final status and past their link's expiry, are deleted with their events; audit records
-- keep their six years. A campaign's figures outlive its messages: they are copied here, once,
-- when the campaign is retired, and read from here from then on.
CREATE TABLE campaign_figures (
    campaign_id uuid PRIMARY KEY REFERENCES campaigns (id),
    audience    bigint NOT NULL,
    -- Messages by status, as campaign-progress counted them.
    by_status   jsonb NOT NULL,
    delivered   bigint NOT NULL,
    bounced     bigint NOT NULL,
    complained  bigint NOT NULL,
    failed      bigint NOT NULL,
    retired_at  timestamptz NOT NULL DEFAULT now()
);

-- Deleting a message sets its bounce reports' message_id to NULL (ON DELETE SET NULL); without
-- this index each deleted message would scan every report.
CREATE INDEX inbound_reports_message ON inbound_reports (message_id) WHERE message_id IS NOT NULL;

-- Where each of retention's two walks stopped (service/retention/deletion.py), kept with every
-- batch it deletes: rows the period has passed but that must stay a while longer (a paused
-- campaign's, a link still open) are stepped over once a pass, not again in every run.
CREATE TABLE retention_walks (
    walk     text PRIMARY KEY,
    after_at timestamptz NOT NULL,
    after    uuid NOT NULL
);

-- Messages made before migration 0029 have random (version 4) ids, spread over the whole key
-- range, so the primary key cannot find the old ones among them. This index holds only those
-- rows, by age; new rows have version 7 ids and never enter it. It empties as they are retired.
-- Writes to messages wait while it is built (5 s at ten million rows, bench/growth_fill.py).
CREATE INDEX messages_random_ids ON messages (created_at, id)
    WHERE get_byte(uuid_send(id), 6) >> 4 = 4;
