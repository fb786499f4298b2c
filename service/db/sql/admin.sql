-- name: insert-admin-session
INSERT INTO admin_sessions (token_hash, api_key_id, expires_at, last_seen_at, stage)
VALUES ($1, $2, now() + make_interval(secs => $3), now(), $4);

-- name: admin-session
-- Touching the session slides its idle end. The key must still be an unrevoked, unexpired staff
-- key (admin or marketer): revoking it also deletes its sessions, and the old half of a rotation
-- signs out at its end.
WITH touched AS (
    UPDATE admin_sessions SET last_seen_at = now()
    WHERE token_hash = $1 AND expires_at > now()
      AND last_seen_at > now() - make_interval(secs => $2)
    RETURNING api_key_id, stage
)
SELECT k.id, k.key_id, k.role, k.name, k.organization_id, o.index_scope, t.stage
FROM touched t JOIN api_keys k ON k.id = t.api_key_id JOIN organizations o ON o.id = k.organization_id
WHERE k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
  AND k.role IN ('admin', 'marketer');

-- name: delete-admin-session
DELETE FROM admin_sessions WHERE token_hash = $1;

-- name: delete-admin-sessions-of-key
DELETE FROM admin_sessions WHERE api_key_id = $1;

-- name: purge-admin-sessions
DELETE FROM admin_sessions
WHERE expires_at <= now() OR last_seen_at <= now() - make_interval(secs => $1);

-- name: staff-key-by-key-id
SELECT id, name FROM api_keys WHERE key_id = $1 AND revoked_at IS NULL
  AND role IN ('admin', 'marketer')
  AND (expires_at IS NULL OR expires_at > now());

-- name: admin-totp
SELECT secret_sealed, confirmed_at IS NOT NULL AS confirmed FROM admin_totp WHERE api_key_id = $1;

-- name: upsert-admin-totp
-- $3 is the operator (enrol-totp): the secret is in use at once and replaces any other. From the
-- sign-in page it is pending until its first code, and never replaces a confirmed one. Replacing
-- a secret forgets the last accepted step: no code of the new secret was used yet.
INSERT INTO admin_totp (api_key_id, secret_sealed, confirmed_at, last_step)
VALUES ($1, $2, CASE WHEN $3 THEN now() END, NULL)
ON CONFLICT (api_key_id) DO UPDATE
SET secret_sealed = EXCLUDED.secret_sealed, confirmed_at = EXCLUDED.confirmed_at, last_step = NULL
WHERE $3 OR admin_totp.confirmed_at IS NULL
RETURNING 1;

-- name: accept-admin-totp-step
-- Accepts a time-step only if it is newer than every step accepted before: a code is used once,
-- even by two requests at the same moment. Confirms a pending enrolment.
UPDATE admin_totp SET last_step = $2, confirmed_at = coalesce(confirmed_at, now())
WHERE api_key_id = $1 AND (last_step IS NULL OR last_step < $2)
RETURNING 1;

-- name: sign-in-lock-until
SELECT max(locked_until) FROM admin_sign_in_locks
WHERE subject = ANY($1::text[]) AND locked_until > now();

-- name: sign-in-serialise
-- Attempts on one subject wait for each other, so concurrent guesses cannot overshoot the limit.
SELECT pg_advisory_xact_lock(hashtextextended(s, 0)) FROM unnest($1::text[]) AS s ORDER BY s;

-- name: insert-sign-in-failure
INSERT INTO admin_sign_in_failures (subject) SELECT unnest($1::text[]);

-- name: sign-in-failures
SELECT count(*) FROM admin_sign_in_failures
WHERE subject = $1 AND at > now() - make_interval(secs => $2);

-- name: lock-sign-in
-- The failures that led to the lock are spent: after it, the subject starts afresh.
WITH spent AS (DELETE FROM admin_sign_in_failures WHERE subject = $1)
INSERT INTO admin_sign_in_locks (subject, locked_until)
VALUES ($1, now() + make_interval(secs => $2))
ON CONFLICT (subject) DO UPDATE SET locked_until = EXCLUDED.locked_until
RETURNING locked_until;

-- name: clear-sign-in-failures
DELETE FROM admin_sign_in_failures WHERE subject = $1;

-- name: purge-sign-in-failures
DELETE FROM admin_sign_in_failures WHERE at <= now() - make_interval(secs => $1);

-- name: purge-sign-in-locks
DELETE FROM admin_sign_in_locks WHERE locked_until <= now();
