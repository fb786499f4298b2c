-- Fan-out in lanes (service/policy/fanout_lanes.py): a campaign's audience is split by address
-- index into ranges that separate jobs fan out side by side, each lane with its own checkpoint.
-- Its counters live on the lane's row, so lanes never write the campaign's row (which they only
-- share-lock, so that a pause or cancel waits for the batches in flight).
CREATE TABLE campaign_fanout_lanes (
    campaign_id uuid NOT NULL REFERENCES campaigns(id),
    lane smallint NOT NULL,
    lanes smallint NOT NULL,
    -- Exclusive bounds on the address index; "after" is the lane's checkpoint.
    after bytea NOT NULL,
    below bytea NOT NULL,
    -- Messages this lane has created; the campaign-wide pacing position interleaves lanes.
    position bigint NOT NULL DEFAULT 0,
    excluded jsonb NOT NULL DEFAULT '{}',
    done boolean NOT NULL DEFAULT false,
    touched_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, lane),
    CHECK (lane >= 0 AND lane < lanes)
);

-- Campaigns started before this migration become one lane each, where their checkpoint was.
INSERT INTO campaign_fanout_lanes (campaign_id, lane, lanes, after, below, position, excluded,
                                   done, touched_at)
SELECT id, 0, 1, coalesce(fanout_cursor, ''::bytea), decode(repeat('ff', 33), 'hex'),
       fanout_position, excluded,
       NOT (status = 'staging' OR (status = 'paused' AND paused_from = 'staging')),
       coalesce(fanout_at, now())
FROM campaigns WHERE started_at IS NOT NULL;

ALTER TABLE campaigns
    DROP COLUMN fanout_cursor,
    DROP COLUMN fanout_position,
    DROP COLUMN excluded,
    DROP COLUMN fanout_at;
