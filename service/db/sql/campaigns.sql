-- name: insert-campaign
INSERT INTO campaigns (id, api_key_id, name, subject, teaser, content_sealed, links, tracking,
                       rate_per_second, scheduled_at, link_key_sealed)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11);

-- name: campaign
-- With its organization: the organization of the key that created it.
SELECT c.id, c.api_key_id, c.name, c.subject, c.teaser, c.content_sealed, c.links, c.tracking,
       c.rate_per_second, c.scheduled_at, c.status, c.started_at, c.created_at, k.organization_id
FROM campaigns c JOIN api_keys k ON k.id = c.api_key_id WHERE c.id = $1;

-- name: campaigns-page
-- A page of the campaigns a key may see, newest first: the organization's ($1), only the key's
-- own ($2) unless NULL (an admin), of one status ($3) unless NULL, after the sort key ($4, $5)
-- of the page before; $6 is the page size plus one (service/core/pagination.py).
SELECT c.id, c.name, c.status, c.created_at, c.started_at, c.scheduled_at
FROM campaigns c JOIN api_keys k ON k.id = c.api_key_id
WHERE k.organization_id = $1 AND ($2::uuid IS NULL OR c.api_key_id = $2)
  AND ($3::text IS NULL OR c.status = $3)
  AND ($4::timestamptz IS NULL OR (c.created_at, c.id) < ($4, $5::uuid))
ORDER BY c.created_at DESC, c.id DESC
LIMIT $6;

-- name: campaign-excluded
-- Recipients left out at fan-out, by reason, summed over the campaign's lanes.
SELECT coalesce(jsonb_object_agg(reason, n), '{}')
FROM (SELECT reason, sum(n::bigint) AS n
      FROM campaign_fanout_lanes, jsonb_each_text(excluded) AS e(reason, n)
      WHERE campaign_id = $1 GROUP BY reason) AS by_reason;

-- name: audience-size
-- A retired campaign's audience is gone; its size was kept (migration 0031).
SELECT coalesce((SELECT audience FROM campaign_figures WHERE campaign_id = $1),
                (SELECT count(*) FROM campaign_audience WHERE campaign_id = $1));

-- name: fan-out-batch
-- One batch of a lane, written by PostgreSQL alone, so no recipient passes through the worker:
-- the lane's next $3 audience rows after its checkpoint $2 (keyset, no OFFSET scans; $4 is the
-- lane's exclusive upper bound), each with its marketing refusal (migration 0012); the allowed
-- ones become queued messages, the k-th of them (from 0, in index order) due $9 * k seconds
-- after $8.
-- Returns the batch's last index (NULL when the lane has nothing left), the messages created
-- and the excluded by reason.
WITH batch AS MATERIALIZED (
    SELECT a.email_index, a.email_sealed,
           marketing_refusal(m, s.email_index IS NOT NULL) AS refusal
    FROM (
        -- The batch first, then the joins: a planner that misjudges the audience's size would
        -- otherwise join everything after the cursor and sort it to keep the first few thousand.
        SELECT email_index, email_sealed FROM campaign_audience
        WHERE campaign_id = $1 AND email_index > $2 AND email_index < $4
        ORDER BY email_index
        LIMIT $3
    ) a
    LEFT JOIN marketing_consent m ON m.email_index = a.email_index
    LEFT JOIN suppressions s ON s.email_index = a.email_index
), created AS (
    -- No per-message "queued" event: messages.created_at says when, the campaign's audit record
    -- says why, and a million event rows (each with its foreign-key check) were a quarter of
    -- the fan-out's time. Every later status change is an event as usual.
    INSERT INTO messages (id, purpose, status, subject, recipient_sealed, give_up_at,
                          expires_at, recipient_index, next_attempt_at, campaign_id)
    SELECT time_ordered_uuid(), 'marketing', 'queued', $5, email_sealed, $6, $7, email_index,
           $8::timestamptz
           + make_interval(secs => $9::float8 * (row_number() OVER (ORDER BY email_index) - 1)),
           $1
    FROM batch WHERE refusal IS NULL
    RETURNING 1
)
SELECT (SELECT email_index FROM batch ORDER BY email_index DESC LIMIT 1) AS last,
       (SELECT count(*) FROM created) AS created,
       (SELECT coalesce(jsonb_object_agg(refusal, n), '{}')
        FROM (SELECT refusal, count(*) AS n FROM batch WHERE refusal IS NOT NULL
              GROUP BY refusal) AS by_reason) AS excluded;

-- name: advance-fanout-lane
UPDATE campaign_fanout_lanes
SET after = $3, position = $4, touched_at = now(),
    excluded = coalesce((SELECT jsonb_object_agg(k, coalesce((excluded ->> k)::bigint, 0)
                                                   + coalesce(($5::jsonb ->> k)::bigint, 0))
                         FROM jsonb_object_keys(excluded || $5::jsonb) AS k), '{}')
WHERE campaign_id = $1 AND lane = $2;

-- name: finish-fanout-lane
UPDATE campaign_fanout_lanes SET done = true, touched_at = now()
WHERE campaign_id = $1 AND lane = $2;

-- name: lock-campaign
-- Waits for every lane batch in flight (they share-lock the row) and orders the lanes that
-- finish at the same time, so that the last of them sees all the others done.
SELECT status FROM campaigns WHERE id = $1 FOR UPDATE;

-- name: campaign-fanned-out
-- Sending once every lane is done. (finish-campaign, run next, ends it at once when nothing is
-- left to send: all excluded, or every message delivered while the last lane was written.)
UPDATE campaigns c SET status = 'sending'
WHERE c.id = $1 AND c.status = 'staging'
  AND NOT EXISTS (SELECT 1 FROM campaign_fanout_lanes l WHERE l.campaign_id = c.id AND NOT l.done);

-- name: insert-fanout-lanes
INSERT INTO campaign_fanout_lanes (campaign_id, lane, lanes, after, below)
SELECT $1::uuid, lane - 1, cardinality($2::bytea[]), after, below
FROM unnest($2::bytea[], $3::bytea[]) WITH ORDINALITY AS bounds (after, below, lane);

-- name: fanout-lanes
-- All of them, done or not: a done lane's job turns the campaign to sending if nothing else did.
SELECT lane FROM campaign_fanout_lanes WHERE campaign_id = $1 ORDER BY lane;

-- name: cancel-campaign
UPDATE campaigns SET status = 'cancelled'
WHERE id = $1 AND status IN ('draft', 'staging', 'sending', 'paused') RETURNING status;

-- name: start-campaign
UPDATE campaigns SET status = 'staging', started_at = coalesce(started_at, now())
WHERE id = $1 AND status = 'draft' RETURNING id;

-- name: stalled-fanout-lanes
-- Lanes of a staging campaign that nobody has advanced for a while: their job was lost. When
-- every lane is done (the worker died before turning the campaign to sending), any lane's job
-- finishes it.
SELECT l.campaign_id, l.lane
FROM campaign_fanout_lanes l JOIN campaigns c ON c.id = l.campaign_id
WHERE c.status = 'staging' AND l.touched_at < now() - make_interval(secs => $1)
  AND (NOT l.done OR NOT EXISTS (SELECT 1 FROM campaign_fanout_lanes o
                                 WHERE o.campaign_id = l.campaign_id AND NOT o.done));

-- name: campaign-look
SELECT teaser, links, tracking, link_key_sealed FROM campaigns WHERE id = $1;

-- name: campaign-progress
-- Counted from its messages until the campaign is retired, then read from what was kept.
SELECT key AS status, value::bigint AS n
FROM campaign_figures, jsonb_each_text(by_status) WHERE campaign_id = $1
UNION ALL
SELECT status, count(*) FROM messages
WHERE campaign_id = $1 AND NOT EXISTS (SELECT 1 FROM campaign_figures WHERE campaign_id = $1)
GROUP BY status;

-- name: campaign-recent-sends
SELECT count(*) FROM messages
WHERE campaign_id = $1 AND status = 'sent' AND sent_at > now() - interval '60 seconds';

-- name: pause-campaign-messages
-- Parked, not deleted: 'infinity' keeps them out of every claim until resumed.
UPDATE messages SET next_attempt_at = 'infinity', updated_at = now()
WHERE campaign_id = $1 AND status IN ('queued', 'retrying');

-- name: resume-campaign-messages
-- Re-paced from now, in the order they were scheduled.
UPDATE messages m
SET next_attempt_at = now() + make_interval(secs => p.position / $2), updated_at = now()
FROM (
    SELECT id, row_number() OVER (ORDER BY created_at, id) - 1 AS position
    FROM messages WHERE campaign_id = $1 AND status IN ('queued', 'retrying')
) p
WHERE m.id = p.id;

-- name: cancel-campaign-messages
WITH m AS (
    UPDATE messages
    SET status = 'rejected', last_error_class = 'cancelled', token_sealed = NULL,
        unsubscribe_sealed = NULL, updated_at = now()
    WHERE campaign_id = $1 AND status IN ('queued', 'retrying')
    RETURNING id
)
INSERT INTO message_events (message_id, status, error_class)
SELECT id, 'rejected', 'cancelled' FROM m;

-- name: finish-campaign
-- Done once fanned out and nothing is waiting or in flight. $1: the campaigns to look at, or NULL
-- for every sending one (the sweep: a worker that died after a campaign's last send, before
-- ending it, leaves it 'sending' with nothing left to do).
UPDATE campaigns c SET status = 'done'
WHERE ($1::uuid[] IS NULL OR c.id = ANY($1::uuid[])) AND c.status = 'sending'
  AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.campaign_id = c.id
                  AND m.status IN ('queued', 'sending', 'retrying'));

-- name: insert-audience-batch
-- A repeated address (in this upload or an earlier one) is kept once: the first one written.
INSERT INTO campaign_audience (campaign_id, email_index, email_sealed)
SELECT $1::uuid, email_index, email_sealed
FROM unnest($2::bytea[], $3::bytea[]) AS batch (email_index, email_sealed)
ON CONFLICT (campaign_id, email_index) DO NOTHING;

-- name: lane-for-fanout
-- Locks the lane's row, so two workers given the same lane take turns batch by batch, and
-- share-locks the campaign's, so lanes run side by side while a pause or cancel waits for them.
SELECT c.id, c.subject, c.rate_per_second, c.scheduled_at, c.status, c.started_at,
       l.lane, l.lanes, l.after, l.below, l.position, l.done
FROM campaigns c JOIN campaign_fanout_lanes l ON l.campaign_id = c.id
WHERE c.id = $1 AND l.lane = $2
FOR SHARE OF c FOR UPDATE OF l;

-- name: pause-campaign
UPDATE campaigns SET paused_from = status, status = 'paused'
WHERE id = $1 AND status IN ('staging', 'sending') RETURNING status;

-- name: resume-campaign
UPDATE campaigns SET status = paused_from, paused_from = NULL
WHERE id = $1 AND status = 'paused' RETURNING status;

-- name: contacts-batch
-- Keyset walk over every contact of the organization $4, or those with the tag digest $3, each
-- with its marketing refusal (migration 0012), for "everyone with an active marketing
-- authorization".
SELECT c.id, c.email_index, c.email_sealed,
       marketing_refusal(m, s.email_index IS NOT NULL) AS refusal
FROM (
    SELECT id, email_index, email_sealed FROM contacts
    WHERE organization_id = $4 AND email_index > $1
      AND ($3::bytea IS NULL OR tag_macs @> ARRAY[$3::bytea])
    ORDER BY email_index
    LIMIT $2
) c
LEFT JOIN marketing_consent m ON m.email_index = c.email_index
LEFT JOIN suppressions s ON s.email_index = c.email_index
ORDER BY c.email_index;

-- name: purge-expired-campaign-content
-- A campaign's portal content goes once the last of its links has expired.
UPDATE campaigns c SET content_sealed = NULL
WHERE content_sealed IS NOT NULL AND status IN ('done', 'cancelled')
  AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.campaign_id = c.id AND m.expires_at > now());
