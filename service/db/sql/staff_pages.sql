-- name: campaign-pace
-- What a campaign's ETA needs (campaigns/pacing.py), in seconds from now on the database's
-- clock: the schedule's start, and the latest due time of its waiting messages ('infinity',
-- parked by a pause, is no due time).
SELECT c.rate_per_second,
       extract(epoch FROM greatest(c.started_at, c.scheduled_at) - now())::float8 AS start_in,
       (SELECT extract(epoch FROM max(m.next_attempt_at) - now())::float8
        FROM messages m
        WHERE m.campaign_id = c.id AND m.status IN ('queued', 'retrying')
          AND m.next_attempt_at < 'infinity') AS last_due_in
FROM campaigns c WHERE c.id = $1;

-- name: retrying-by-class
-- Messages waiting for another try now, by the class of their last failure.
SELECT coalesce(last_error_class, 'unknown') AS error_class, count(*) AS n
FROM messages WHERE status = 'retrying' GROUP BY 1 ORDER BY 2 DESC, 1;

-- name: failures-by-class-24h
-- Failed attempts over the last 24 hours (each retry or give-up), by class.
SELECT error_class, count(*) AS n FROM message_events
WHERE at > now() - interval '24 hours' AND status IN ('retrying', 'failed')
  AND error_class IS NOT NULL
GROUP BY 1 ORDER BY 2 DESC, 1;

-- name: delivery-hours
-- The last 24 hours, hour by hour, oldest first (the current hour last): messages delivered,
-- retried, given up and bounced (from their events), and complaints received. Counts only.
WITH hours AS (
    SELECT generate_series(date_trunc('hour', now()) - interval '23 hours',
                           date_trunc('hour', now()), interval '1 hour') AS hour
), events AS (
    SELECT date_trunc('hour', at) AS hour, status, count(*) AS n FROM message_events
    WHERE at >= date_trunc('hour', now()) - interval '23 hours'
      AND status IN ('sent', 'retrying', 'failed', 'bounced')
    GROUP BY 1, 2
), complaints AS (
    SELECT date_trunc('hour', received_at) AS hour, count(*) AS n FROM inbound_reports
    WHERE received_at >= date_trunc('hour', now()) - interval '23 hours'
      AND outcome = 'complaint'
    GROUP BY 1
)
SELECT h.hour,
       coalesce(sum(e.n) FILTER (WHERE e.status = 'sent'), 0)::int AS sent,
       coalesce(sum(e.n) FILTER (WHERE e.status = 'retrying'), 0)::int AS retried,
       coalesce(sum(e.n) FILTER (WHERE e.status = 'failed'), 0)::int AS failed,
       coalesce(sum(e.n) FILTER (WHERE e.status = 'bounced'), 0)::int AS bounced,
       coalesce(max(c.n), 0)::int AS complaints
FROM hours h
LEFT JOIN events e ON e.hour = h.hour
LEFT JOIN complaints c ON c.hour = h.hour
GROUP BY h.hour ORDER BY h.hour;
