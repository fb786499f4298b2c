-- name: insert-messages
-- The outbox write: a batch of messages (one array per column, an element per message; group
-- commit) and their first events in one statement. A repeated idempotency key inserts nothing
-- and returns no id, and its caller then reads the original. A scheduled message (send_at set)
-- waits for its send_at, and its retry ($20) and portal ($21) times run from then.
WITH r AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::bytea[],
                         $6::bytea[], $7::bytea[], $8::bytea[], $9::bytea[], $10::text[],
                         $11::bytea[], $12::bytea[], $13::text[], $14::bytea[], $15::bytea[],
                         $16::timestamptz[], $17::bytea[], $18::text[])
        AS r(id, api_key_id, purpose, subject, recipient_sealed, token_sealed, token_hash,
             content_sealed, verification_hash, idempotency_key, request_digest, recipient_index,
             kind, unsubscribe_sealed, unsubscribe_hash, send_at, verification_hint_sealed,
             verification_format)
), m AS (
    INSERT INTO messages (id, api_key_id, purpose, status, subject, recipient_sealed, token_sealed,
                          token_hash, content_sealed, verification_hash, give_up_at, expires_at,
                          idempotency_key, request_digest, recipient_index, kind,
                          unsubscribe_sealed, unsubscribe_hash, send_at, next_attempt_at,
                          verification_hint_sealed, verification_format)
    SELECT id, api_key_id, purpose, CASE WHEN send_at IS NULL THEN 'queued' ELSE 'scheduled' END,
           subject, recipient_sealed, token_sealed, token_hash, content_sealed, verification_hash,
           coalesce(send_at, now()) + make_interval(secs => $19),
           coalesce(send_at, now()) + make_interval(secs => $20), idempotency_key,
           request_digest, recipient_index, kind, unsubscribe_sealed, unsubscribe_hash, send_at,
           coalesce(send_at, now()), verification_hint_sealed, verification_format
    FROM r
    ON CONFLICT (api_key_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id, status
)
INSERT INTO message_events (message_id, status) SELECT id, status FROM m RETURNING message_id;

-- name: find-idempotent-message
SELECT id, request_digest, send_at FROM messages WHERE api_key_id = $1 AND idempotency_key = $2;

-- name: message-status
SELECT id, purpose, status, attempts, last_error_class, created_at, updated_at, send_at, sent_at,
       tls_version, tls_cipher, tls_certificate_sha256, tls_verified_name
FROM messages WHERE id = $1 AND api_key_id = $2;

-- name: claim-due-messages
-- Claims a batch for this worker. SKIP LOCKED lets any number of workers on any number of
-- machines claim side by side without waiting on, or sending, each other's rows; a duplicate job
-- simply finds nothing due. Walks the partial index messages_due in next_attempt_at order. A
-- scheduled message is due at its send_at, never before; a cancelled one is never due.
UPDATE messages m
SET status = 'sending', attempts = m.attempts + 1,
    lease_until = now() + make_interval(secs => $2), updated_at = now()
FROM (
    SELECT id FROM messages
    WHERE status IN ('scheduled', 'queued', 'retrying') AND next_attempt_at <= now()
    ORDER BY next_attempt_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
) due
WHERE m.id = due.id
RETURNING m.id, m.purpose, m.kind, m.subject, m.campaign_id, m.recipient_sealed, m.recipient_index,
          m.token_sealed, m.unsubscribe_sealed, m.attempts, m.send_at IS NOT NULL AS scheduled,
          extract(epoch FROM m.give_up_at - now())::float8 AS seconds_until_give_up;

-- name: record-progress
-- What the SMTP sessions report between two messages, for all of them at once (group commit),
-- in one statement: the messages the relay took ($1, each with its transport evidence in $2 to
-- $5, written with the status so that no sent message lacks it), and what each reporting session
-- ($6) puts on the wire next ($7, NULL for nothing). A row whose lease lapsed while this write
-- waited out an outage, and that no worker has claimed again, is still marked: that saves a
-- re-send. Returns the number marked sent; their audit records follow (delivery_audit_queue).
WITH d AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
        AS d(id, tls_version, tls_cipher, tls_certificate_sha256, tls_verified_name)
), m AS (
    UPDATE messages m
    SET status = 'sent', sent_at = now(), updated_at = now(), token_sealed = NULL,
        unsubscribe_sealed = NULL, lease_until = NULL, last_error_class = NULL,
        tls_version = d.tls_version, tls_cipher = d.tls_cipher,
        tls_certificate_sha256 = d.tls_certificate_sha256, tls_verified_name = d.tls_verified_name
    FROM d
    WHERE m.id = d.id
      AND (m.status = 'sending' OR (m.status = 'retrying' AND m.last_error_class = 'worker_lost'))
    RETURNING m.id
), e AS (
    INSERT INTO message_events (message_id, status) SELECT id, 'sent' FROM m
), a AS (
    INSERT INTO delivery_audit_queue (message_id) SELECT id FROM m ON CONFLICT DO NOTHING
), w AS (
    INSERT INTO wire_sessions (id, message_id)
    SELECT * FROM unnest($6::uuid[], $7::uuid[])
    ON CONFLICT (id) DO UPDATE SET message_id = excluded.message_id, touched_at = now()
)
SELECT count(*) FROM m;

-- name: end-wire-sessions
DELETE FROM wire_sessions WHERE id = ANY($1::uuid[]);

-- name: pending-delivery-audits
-- A batch of deliveries still to be audited; SKIP LOCKED lets the recorder and the sweep (for a
-- lost worker's) work side by side without writing one twice. The queue leads and each message
-- is a probe by its key: as a join, the plan a connection kept from when `messages` was small
-- walked the whole table in key order looking for the few queued ones, at every batch. A queued
-- message always has its row: retention (retire-messages) leaves queued ones alone.
SELECT q.message_id AS id, m.tls_version, m.tls_cipher, m.tls_certificate_sha256,
       m.tls_verified_name
FROM (
    SELECT message_id FROM delivery_audit_queue ORDER BY message_id LIMIT $1
    FOR UPDATE SKIP LOCKED
) q
CROSS JOIN LATERAL (
    SELECT tls_version, tls_cipher, tls_certificate_sha256, tls_verified_name
    FROM messages WHERE id = q.message_id LIMIT 1
) m
ORDER BY q.message_id;

-- name: clear-delivery-audits
DELETE FROM delivery_audit_queue WHERE message_id = ANY($1::uuid[]);

-- name: mark-retrying
-- No deferred job goes to Redis: the outbox sweep enqueues the row once next_attempt_at passes,
-- so PostgreSQL alone decides when a retry happens.
WITH m AS (
    UPDATE messages
    SET status = 'retrying', next_attempt_at = now() + make_interval(secs => $2),
        last_error_class = $3, lease_until = NULL, updated_at = now()
    WHERE id = $1 AND status = 'sending'
    RETURNING id
)
INSERT INTO message_events (message_id, status, error_class) SELECT id, 'retrying', $3 FROM m;

-- name: mark-failed
-- A message given up keeps no way to rebuild its link.
WITH m AS (
    UPDATE messages
    SET status = 'failed', last_error_class = $2, token_sealed = NULL, unsubscribe_sealed = NULL,
        lease_until = NULL, updated_at = now()
    WHERE id = $1 AND status = 'sending'
    RETURNING id
)
INSERT INTO message_events (message_id, status, error_class) SELECT id, 'failed', $2 FROM m;

-- name: mark-rejected
-- Consent was withdrawn (or the address suppressed) between acceptance and sending, or a
-- scheduled message's subject is no longer allowed.
WITH m AS (
    UPDATE messages
    SET status = 'rejected', last_error_class = $2, token_sealed = NULL,
        unsubscribe_sealed = NULL, lease_until = NULL, updated_at = now()
    WHERE id = $1 AND status = 'sending'
    RETURNING id
)
INSERT INTO message_events (message_id, status, error_class) SELECT id, 'rejected', $2 FROM m;

-- name: cancel-message
-- The sender withdraws a message no worker has claimed. The claim and this both lock the row, so
-- whichever comes second sees the other's status: a claimed message is not cancelled, and a
-- cancelled one is never claimed. Its content and link go at once, as they do on expiry.
WITH m AS (
    UPDATE messages
    SET status = 'cancelled', content_sealed = NULL, verification_hash = NULL,
        verification_hint_sealed = NULL, token_sealed = NULL, unsubscribe_sealed = NULL,
        updated_at = now()
    WHERE id = $1 AND api_key_id = $2 AND status IN ('scheduled', 'queued')
    RETURNING id, purpose
), e AS (
    INSERT INTO message_events (message_id, status) SELECT id, 'cancelled' FROM m
)
SELECT id, purpose FROM m;

-- name: scheduled-recipients
-- What the subject rules need about each scheduled message coming due: its organization (the
-- approved list) and the contact's sealed name, if the address is a contact.
SELECT m.id, k.organization_id, c.id AS contact_id, c.name_sealed
FROM messages m JOIN api_keys k ON k.id = m.api_key_id
LEFT JOIN contacts c ON c.email_index = m.recipient_index
WHERE m.id = ANY($1::uuid[]);

-- name: reclaim-lost-sends
-- A worker died or lost the database for longer than its lease: make its rows due again. Only a
-- row some session had on the wire (wire_sessions) may already have been taken by the relay, so
-- only those can go out twice; they are counted (possible_duplicates). Returns that count.
WITH m AS (
    UPDATE messages
    SET status = 'retrying', next_attempt_at = now(), lease_until = NULL,
        last_error_class = 'worker_lost', updated_at = now()
    FROM (SELECT id FROM messages
          WHERE status = 'sending' AND lease_until < now() FOR UPDATE SKIP LOCKED) lost
    WHERE messages.id = lost.id
    RETURNING messages.id,
              EXISTS (SELECT 1 FROM wire_sessions w WHERE w.message_id = lost.id) AS on_wire
), e AS (
    INSERT INTO message_events (message_id, status, error_class)
    SELECT id, 'retrying', 'worker_lost' FROM m
), w AS (
    DELETE FROM wire_sessions WHERE message_id IN (SELECT id FROM m)
), c AS (
    INSERT INTO delivery_counters (name, value)
    SELECT 'possible_duplicates', count(*) FROM m WHERE on_wire HAVING count(*) > 0
    ON CONFLICT (name) DO UPDATE SET value = delivery_counters.value + excluded.value
)
SELECT count(*) FILTER (WHERE on_wire) FROM m;

-- name: forget-dead-wire-sessions
-- Sessions of workers that died: nothing of theirs is 'sending' any more (reclaimed or done).
DELETE FROM wire_sessions w
WHERE touched_at < now() - make_interval(secs => $1)
  AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = w.message_id AND m.status = 'sending');

-- name: renew-leases
-- The worker renews what it still holds every few seconds, so a short lease is enough and a
-- crashed worker's rows come back within seconds. A row being recorded at this moment is skipped,
-- not waited for: waiting could deadlock with the recording (which locks its rows in another
-- order), and the next renewal is seconds away.
UPDATE messages SET lease_until = now() + make_interval(secs => $2)
WHERE id IN (SELECT id FROM messages WHERE id = ANY($1::uuid[]) AND status = 'sending'
             FOR UPDATE SKIP LOCKED);

-- name: release-claims
-- A stopping worker gives back what it claimed and never put on the wire, so the next worker
-- takes it at once instead of after the lease. The claim's attempt is taken back with it.
UPDATE messages
SET status = CASE WHEN attempts <= 1 THEN 'queued' ELSE 'retrying' END,
    attempts = greatest(attempts - 1, 0), lease_until = NULL, updated_at = now()
WHERE id = ANY($1::uuid[]) AND status = 'sending'
  AND NOT EXISTS (SELECT 1 FROM wire_sessions w WHERE w.message_id = messages.id);

-- name: possible-duplicates
SELECT coalesce((SELECT value FROM delivery_counters WHERE name = 'possible_duplicates'), 0);

-- name: any-due
SELECT EXISTS (
    SELECT 1 FROM messages
    WHERE status IN ('scheduled', 'queued', 'retrying') AND next_attempt_at <= now()
);

-- name: portal-message
-- The message a portal link names: a single message by its token's hash ($1), a campaign
-- message by the id its token carries ($2; derived_link: the caller checks the token's HMAC
-- under link_key_sealed before using the row). A campaign message shows its campaign's content
-- (one copy, sealed under the master keys). The pages say when it was sent and until when it
-- can be read.
-- Each row is looked up on its own through its unique index (two arms, not an OR; LATERAL ...
-- LIMIT 1, not a join): PostgreSQL keeps one plan per connection for this statement, and as an
-- OR and a join, the plan kept from when `messages` was small scanned the whole table at every
-- link opened, until an ANALYZE.
SELECT m.id, m.content_sealed, m.verification_hash, m.verification_failures,
       m.verification_hint_sealed, m.verification_format,
       m.expires_at <= now() AS expired, m.expires_at, coalesce(m.sent_at, m.created_at) AS sent_at,
       m.campaign_id, c.content_sealed AS campaign_content_sealed,
       m.token_hash IS NULL AS derived_link, c.link_key_sealed
FROM (
    (SELECT id, content_sealed, verification_hash, verification_failures,
            verification_hint_sealed, verification_format, expires_at, sent_at, created_at,
            campaign_id, token_hash
     FROM messages WHERE token_hash = $1 LIMIT 1)
    UNION ALL
    (SELECT id, content_sealed, verification_hash, verification_failures,
            verification_hint_sealed, verification_format, expires_at, sent_at, created_at,
            campaign_id, token_hash
     FROM messages WHERE id = $2 AND token_hash IS NULL AND campaign_id IS NOT NULL LIMIT 1)
) m
LEFT JOIN LATERAL (
    SELECT content_sealed, link_key_sealed FROM campaigns WHERE id = m.campaign_id LIMIT 1
) c ON true;

-- name: record-verification-failure
UPDATE messages SET verification_failures = verification_failures + 1, updated_at = now()
WHERE id = $1 RETURNING verification_failures;

-- name: purge-expired-content
-- Portal content is deleted, not just hidden, once its link expires.
UPDATE messages SET content_sealed = NULL, verification_hash = NULL, token_sealed = NULL,
                    verification_hint_sealed = NULL, updated_at = now()
WHERE content_sealed IS NOT NULL AND expires_at <= now();

-- name: next-due-in
-- Seconds until the next waiting message is due (negative when overdue, NULL when none). A
-- paused campaign's messages wait at 'infinity' (not a number of seconds away): not counted.
SELECT extract(epoch FROM min(next_attempt_at) - now())::float8 FROM messages
WHERE status IN ('scheduled', 'queued', 'retrying') AND next_attempt_at < 'infinity';

-- name: messages-by-status
-- Waiting and in-flight statuses: how many messages are in them now, read through the partial
-- indexes that hold just those rows (messages_due, messages_leased), so the read is as large as
-- the backlog, not the table. Final statuses: how many messages reached them since the start
-- (migration 0030); a bounced message reached 'sent' first and is counted in both. 'retired':
-- messages deleted by retention (RETENTION_DAYS).
SELECT status, count(*) AS n FROM messages
WHERE status IN ('scheduled', 'queued', 'retrying') GROUP BY status
UNION ALL
SELECT 'sending', count(*) FROM messages WHERE status = 'sending'
UNION ALL
SELECT status, sum(n)::bigint FROM message_status_totals
WHERE status NOT IN ('scheduled', 'queued', 'sending', 'retrying') GROUP BY status;

-- name: messages-due-now
SELECT count(*) FROM messages
WHERE status IN ('scheduled', 'queued', 'retrying') AND next_attempt_at <= now();

-- name: recent-delivery-latency
-- Accepted-to-relayed seconds over the last 15 minutes, at the quantiles given in $1. Read from
-- the 'sent' events (their time is the sent mark's, written in the same statement) through the
-- events' BRIN index on time, and each one's message by key: as large as 15 minutes of sends,
-- where filtering `messages` on sent_at read the whole table.
SELECT percentile_cont($1::float8[]) WITHIN GROUP (
           ORDER BY extract(epoch FROM e.at - m.created_at))
FROM message_events e JOIN messages m ON m.id = e.message_id
WHERE e.status = 'sent' AND e.at > now() - interval '15 minutes';
