-- Webhook endpoints, their event outbox (filled by triggers: migrations/0021_webhooks.sql) and
-- its delivery. Every endpoint query names the organization: another's endpoint is not found.

-- name: insert-webhook-endpoint
INSERT INTO webhook_endpoints (id, organization_id, url, events, secret_sealed)
VALUES ($1, $2, $3, $4, $5)
RETURNING id, url, events, status, created_at, disabled_at;

-- name: webhook-endpoints-page
-- Keyset: $3/$4 are the (created_at, id) of the last endpoint of the page before, or NULL.
SELECT id, url, events, status, created_at, disabled_at FROM webhook_endpoints
WHERE organization_id = $1
  AND ($3::timestamptz IS NULL OR (created_at, id) > ($3::timestamptz, $4::uuid))
ORDER BY created_at, id LIMIT $2;

-- name: webhook-endpoint
SELECT id, url, events, status, created_at, disabled_at FROM webhook_endpoints
WHERE id = $1 AND organization_id = $2;

-- name: delete-webhook-endpoint
-- Its deliveries and attempts go with it (ON DELETE CASCADE); events stay for other endpoints
-- until purged.
DELETE FROM webhook_endpoints WHERE id = $1 AND organization_id = $2 RETURNING id;

-- name: rotate-webhook-secret
-- The secret in use becomes the previous one, honoured until $4; one rotated before it, if
-- still honoured, is dropped. Both columns are sealed bound to the endpoint alone, so the value
-- moves across as it is.
UPDATE webhook_endpoints
SET previous_secret_sealed = secret_sealed, secret_sealed = $3,
    previous_secret_until = now() + make_interval(secs => $4)
WHERE id = $1 AND organization_id = $2
RETURNING id, url, events, status, created_at, disabled_at, previous_secret_until;

-- name: enable-webhook-endpoint
-- What waited while it was disabled is due again at once.
WITH e AS (
    UPDATE webhook_endpoints SET status = 'enabled', disabled_at = NULL, failing_since = NULL
    WHERE id = $1 AND organization_id = $2
    RETURNING id, url, events, status, created_at, disabled_at
), d AS (
    UPDATE webhook_deliveries SET next_attempt_at = now()
    WHERE endpoint_id IN (SELECT id FROM e) AND status = 'pending'
)
SELECT * FROM e;

-- name: enable-webhook-by-id
-- The operator's verb: any organization's endpoint.
WITH e AS (
    UPDATE webhook_endpoints SET status = 'enabled', disabled_at = NULL, failing_since = NULL
    WHERE id = $1
    RETURNING id
), d AS (
    UPDATE webhook_deliveries SET next_attempt_at = now()
    WHERE endpoint_id IN (SELECT id FROM e) AND status = 'pending'
)
SELECT id FROM e;

-- name: all-webhook-endpoints
SELECT w.id, o.name AS organization, w.url, w.events, w.status, w.disabled_at
FROM webhook_endpoints w JOIN organizations o ON o.id = w.organization_id
ORDER BY o.name, w.created_at, w.id;

-- name: webhook-attempts-page
-- Newest first; keyset on (at, id) of the last attempt of the page before.
SELECT a.id, a.event_id, e.type, a.at, a.http_status, a.error_class, a.duration_ms
FROM webhook_attempts a
JOIN webhook_endpoints w ON w.id = a.endpoint_id
JOIN webhook_events e ON e.id = a.event_id
WHERE a.endpoint_id = $1 AND w.organization_id = $2
  AND ($4::timestamptz IS NULL OR (a.at, a.id) < ($4::timestamptz, $5::bigint))
ORDER BY a.at DESC, a.id DESC LIMIT $3;

-- name: any-webhook-enabled
SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE status = 'enabled');

-- name: claim-webhook-deliveries
-- SKIP LOCKED lets workers claim side by side; pushing next_attempt_at by $2 seconds is the
-- lease. A disabled endpoint's deliveries wait where they are until it is enabled.
UPDATE webhook_deliveries d
SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
FROM (
    SELECT d.endpoint_id, d.event_id FROM webhook_deliveries d
    JOIN webhook_endpoints w ON w.id = d.endpoint_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND w.status = 'enabled'
    ORDER BY d.next_attempt_at
    LIMIT $1
    FOR UPDATE OF d SKIP LOCKED
) due, webhook_endpoints w, webhook_events e
WHERE d.endpoint_id = due.endpoint_id AND d.event_id = due.event_id
  AND w.id = d.endpoint_id AND e.id = d.event_id
RETURNING d.endpoint_id, d.event_id, d.attempts, w.url, w.secret_sealed,
          CASE WHEN w.previous_secret_until > now() THEN w.previous_secret_sealed END
              AS previous_secret_sealed,
          e.type, e.data::text AS data, e.created_at;

-- name: record-webhook-attempt
-- The attempt, its delivery's next state ($5: delivered, pending or failed; $6: seconds to the
-- next try) and the endpoint's failure clock, together. An endpoint failing without a success
-- for $7 seconds is disabled; the answer says whether this attempt disabled it.
WITH a AS (
    INSERT INTO webhook_attempts (endpoint_id, event_id, http_status, error_class, duration_ms)
    VALUES ($1, $2, $3, $4, $8)
), d AS (
    UPDATE webhook_deliveries
    SET status = $5, next_attempt_at = now() + make_interval(secs => $6)
    WHERE endpoint_id = $1 AND event_id = $2
)
UPDATE webhook_endpoints w
SET failing_since = CASE WHEN $5 = 'delivered' THEN NULL ELSE coalesce(w.failing_since, now()) END,
    status = CASE WHEN t.disable THEN 'disabled' ELSE w.status END,
    disabled_at = CASE WHEN t.disable THEN now() ELSE w.disabled_at END
FROM (SELECT $5 <> 'delivered' AND status = 'enabled'
             AND coalesce(failing_since, now()) <= now() - make_interval(secs => $7) AS disable
      FROM webhook_endpoints WHERE id = $1) t
WHERE w.id = $1
RETURNING t.disable AS disabled_now;

-- name: purge-webhook-history
-- Finished deliveries, attempts and events older than $1 days; pending ones are kept.
WITH d AS (
    DELETE FROM webhook_deliveries d USING webhook_events e
    WHERE e.id = d.event_id AND d.status <> 'pending'
      AND e.created_at < now() - make_interval(days => $1)
), a AS (
    DELETE FROM webhook_attempts WHERE at < now() - make_interval(days => $1)
)
DELETE FROM webhook_events e
WHERE e.created_at < now() - make_interval(days => $1)
  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                  WHERE d.event_id = e.id AND d.status = 'pending');
