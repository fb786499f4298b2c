-- name: campaigns-to-retire
-- Finished campaigns with nothing left to change: created and last fanned out or sent before
-- the cutoff $1, every link expired (the purge drops the content only then), not yet retired.
SELECT c.id FROM campaigns c
WHERE c.status IN ('done', 'cancelled') AND c.created_at < $1 AND c.content_sealed IS NULL
  AND NOT EXISTS (SELECT 1 FROM campaign_figures f WHERE f.campaign_id = c.id)
  AND NOT EXISTS (SELECT 1 FROM campaign_fanout_lanes l
                  WHERE l.campaign_id = c.id AND l.touched_at >= $1)
  AND NOT EXISTS (SELECT 1 FROM messages m
                  WHERE m.campaign_id = c.id AND m.status = 'sent' AND m.sent_at >= $1)
ORDER BY c.created_at
LIMIT $2;

-- name: keep-campaign-figures
-- Returns the campaign's id, or nothing if another run kept its figures first.
INSERT INTO campaign_figures (campaign_id, audience, by_status, delivered, bounced, complained,
                              failed)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (campaign_id) DO NOTHING
RETURNING campaign_id;

-- name: retention-walk-position
SELECT after_at, after FROM retention_walks WHERE walk = $1;

-- name: keep-retention-walk-position
INSERT INTO retention_walks (walk, after_at, after) VALUES ($1, $2, $3)
ON CONFLICT (walk) DO UPDATE SET after_at = excluded.after_at, after = excluded.after;

-- name: retention-walk
-- A step of the walk over the primary key's oldest end: the next $3 ids after $1 below the bound
-- $2 (the least id of the cutoff's millisecond: every version-7 id made before it is below).
SELECT id FROM messages WHERE id > $1 AND id < $2 ORDER BY id LIMIT $3;

-- name: retention-walk-random-ids
-- The same for rows made before migration 0029, whose random ids say nothing of their age: the
-- next $4 made before the cutoff $3, after ($1, $2) in (created_at, id), through
-- messages_random_ids (this predicate is that index's).
SELECT id, created_at FROM messages
WHERE get_byte(uuid_send(id), 6) >> 4 = 4 AND created_at < $3 AND (created_at, id) > ($1, $2)
ORDER BY created_at, id LIMIT $4;

-- name: retire-messages
-- Of the messages $1 a walk found, those retention lets go, with their events: made and sent
-- before the cutoff $2 (an unsubscribe link works for the period after the email went, however
-- long its retries took), in a final status $3, past their link's expiry, with their delivery's
-- audit record written, and alone or of a retired campaign.
-- A row someone else holds locked waits for the next run. Returns how many went, and adds them
-- to the totals of migration 0030 under $4 ('retired', for /metrics and the health page).
WITH doomed AS (
    SELECT id FROM messages
    WHERE id = ANY($1::uuid[]) AND created_at < $2 AND (sent_at IS NULL OR sent_at < $2)
      AND status = ANY($3::text[]) AND expires_at <= now()
      AND NOT EXISTS (SELECT 1 FROM delivery_audit_queue q WHERE q.message_id = messages.id)
      AND (campaign_id IS NULL
           OR EXISTS (SELECT 1 FROM campaign_figures f WHERE f.campaign_id = messages.campaign_id))
    FOR UPDATE SKIP LOCKED
), events AS (
    DELETE FROM message_events WHERE message_id IN (SELECT id FROM doomed)
), gone AS (
    DELETE FROM messages WHERE id IN (SELECT id FROM doomed) RETURNING 1
), counted AS (
    INSERT INTO message_status_totals AS t (status, shard, n)
    SELECT $4, pg_backend_pid() % 16, count(*) FROM gone HAVING count(*) > 0
    ON CONFLICT (status, shard) DO UPDATE SET n = t.n + excluded.n
)
SELECT count(*) FROM gone;

-- name: retire-audience
-- The sealed addresses of a retired campaign, $1 at a time; returns how many went.
WITH doomed AS (
    SELECT a.campaign_id, a.email_index FROM campaign_audience a
    WHERE a.campaign_id = (SELECT f.campaign_id FROM campaign_figures f
                           WHERE EXISTS (SELECT 1 FROM campaign_audience r
                                         WHERE r.campaign_id = f.campaign_id)
                           LIMIT 1)
    LIMIT $1
), gone AS (
    DELETE FROM campaign_audience a USING doomed d
    WHERE a.campaign_id = d.campaign_id AND a.email_index = d.email_index RETURNING 1
)
SELECT count(*) FROM gone;

-- name: retention-cutoff
-- On the database's clock, as created_at was written.
SELECT now() - make_interval(days => $1);
