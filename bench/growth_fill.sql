-- The fill of bench/table_growth.py: a month of a clinic group's single messages, as the
-- service leaves them (bench/growth_fill.py runs these blocks). Random where the service is
-- random (ids are uuid4, token hashes 32 random bytes), the service's sizes elsewhere: a sealed
-- blob is a 4-byte header, a 12-byte random nonce, its text's length of ciphertext and a 16-byte
-- tag, twice over for the token-bound content; rows stay under the TOAST threshold, so filler
-- bytes store as ciphertext would.

-- name: fill-messages
-- Rows $1 to $2 of $3, created from $6 - 30 days up to $6 in row order (the heap is in time
-- order, as the service's is), over the keys $4; $5 is 1 KiB of random bytes, the ciphertext.
-- Each message's events follow it: queued, a retry for some, and its end.
WITH g AS (
    SELECT i, random() AS r, gen_random_uuid() AS id,
           $6::timestamptz - interval '30 days' * (($3 - i)::float8 / $3) AS created_at,
           substr(sha256(uuid_send(gen_random_uuid())), 1, 12) AS nonce,
           ((i::bigint * 7919) % 361)::int AS content_length,
           ((i::bigint * 104729) % 21)::int AS address_extra
    FROM generate_series($1::int, $2::int) AS i
), s AS (
    SELECT g.*,
           CASE WHEN created_at > $6 - interval '48 hours' AND r < 0.003 THEN 'retrying'
                WHEN r < 0.965 THEN 'sent' WHEN r < 0.975 THEN 'failed'
                WHEN r < 0.985 THEN 'rejected' WHEN r < 0.995 THEN 'bounced'
                ELSE 'cancelled' END AS status,
           i % 10 < 3 AS verified, i % 10 < 7 AS idempotent, r < 0.05 AS retried
    FROM g
), m AS (
    INSERT INTO messages (
        id, api_key_id, purpose, status, subject, recipient_sealed, token_sealed, token_hash,
        content_sealed, verification_hash, attempts, last_error_class, next_attempt_at,
        give_up_at, expires_at, idempotency_key, request_digest, created_at, updated_at,
        sent_at, bounced_at, recipient_index, tls_version, tls_cipher, tls_certificate_sha256,
        tls_verified_name, verification_hint_sealed, verification_format)
    SELECT id, ($4::uuid[])[1 + i % cardinality($4::uuid[])],
           CASE WHEN i % 10 < 7 THEN 'treatment' ELSE 'operations' END, status,
           (ARRAY['Upcoming Appointment Reminder', 'You have a new secure message',
                  'Appointment Confirmation', 'Message from your care team'])[1 + i % 4],
           '\x01026731'::bytea || nonce || substr($5::bytea, 1 + i % 512, 36 + address_extra),
           CASE WHEN status = 'retrying' THEN
               '\x01026731'::bytea || nonce || substr($5::bytea, 1 + i % 256, 59) END,
           sha256(uuid_send(id) || uuid_send(gen_random_uuid())),
           CASE WHEN status <> 'cancelled' THEN
               '\x02026731'::bytea || nonce || substr($5::bytea, 1 + i % 128, 88 + content_length) END,
           CASE WHEN verified THEN substr($5::bytea, 1 + i % 64, 48) END,
           CASE WHEN status = 'failed' THEN 3 WHEN retried OR status = 'retrying' THEN 2
                ELSE 1 END,
           CASE status WHEN 'failed' THEN 'permanent' WHEN 'rejected' THEN 'consent'
                       WHEN 'retrying' THEN 'transient' END,
           CASE WHEN status = 'retrying' THEN $6 + interval '10 minutes' ELSE created_at END,
           created_at + interval '48 hours', created_at + interval '30 days',
           CASE WHEN idempotent THEN 'ehr-' || gen_random_uuid() END,
           CASE WHEN idempotent THEN sha256(uuid_send(id)) END,
           created_at, created_at + interval '2 seconds',
           CASE WHEN status IN ('sent', 'bounced') THEN created_at + interval '2 seconds' END,
           CASE WHEN status = 'bounced' THEN created_at + interval '1 minute' END,
           sha256(int8send((i % 2000000)::bigint)),
           CASE WHEN status IN ('sent', 'bounced') THEN 'TLSv1.3' END,
           CASE WHEN status IN ('sent', 'bounced') THEN 'TLS_AES_256_GCM_SHA384' END,
           CASE WHEN status IN ('sent', 'bounced') THEN encode(sha256('relay'), 'hex') END,
           CASE WHEN status IN ('sent', 'bounced') THEN 'relay.clinic.example' END,
           CASE WHEN verified THEN '\x02026731'::bytea || nonce || substr($5::bytea, 1, 68) END,
           CASE WHEN verified THEN 'date' END
    FROM s ORDER BY i
    RETURNING id, status, attempts, created_at
)
INSERT INTO message_events (message_id, status, error_class, at)
SELECT m.id, e.status, e.error_class, m.created_at + e.after
FROM m CROSS JOIN LATERAL (VALUES
    (0, 'queued', NULL, interval '0'),
    (1, CASE WHEN m.attempts > 1 THEN 'retrying' END, 'transient', interval '1 second'),
    (2, CASE WHEN m.status <> 'retrying' THEN
            CASE WHEN m.status = 'bounced' THEN 'sent' ELSE m.status END END,
        CASE m.status WHEN 'failed' THEN 'permanent' WHEN 'rejected' THEN 'consent' END,
        interval '2 seconds'),
    (3, CASE WHEN m.status = 'bounced' THEN 'bounced' END, 'mailbox_unknown', interval '1 minute')
) AS e(n, status, error_class, after)
WHERE e.status IS NOT NULL
ORDER BY m.created_at, e.n;

-- name: delivered
-- What the worker audits (message.deliver), in the heap's order, which is time order.
SELECT id, sent_at FROM messages WHERE status IN ('sent', 'bounced');

-- name: index-definitions
-- The indexes and keys of the filled tables, and the foreign keys into and out of them, so the
-- fill can drop them and build them again exactly. Keys come first on the way back (a foreign
-- key needs its referenced key).
SELECT c.conname AS name, c.conrelid::regclass::text AS table_name,
       pg_get_constraintdef(c.oid) AS definition, c.contype::text AS kind, NULL AS index_sql
FROM pg_constraint c
WHERE c.contype IN ('p', 'u', 'f')
  AND (c.conrelid = ANY($1::regclass[]) OR c.confrelid = ANY($1::regclass[]))
UNION ALL
SELECT i.indexrelid::regclass::text, i.indrelid::regclass::text, NULL, 'i',
       pg_get_indexdef(i.indexrelid)
FROM pg_index i
WHERE i.indrelid = ANY($1::regclass[])
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                  WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x'));
