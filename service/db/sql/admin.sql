-- name: insert-admin-session
INSERT INTO admin_sessions (token_hash, api_key_id, expires_at)
VALUES ($1, $2, now() + make_interval(secs => $3));

-- name: admin-session
-- The key must still be an unrevoked admin key: revoking it ends its sessions too.
SELECT k.id, k.role, k.name FROM admin_sessions s JOIN api_keys k ON k.id = s.api_key_id
WHERE s.token_hash = $1 AND s.expires_at > now() AND k.revoked_at IS NULL AND k.role = 'admin';

-- name: delete-admin-session
DELETE FROM admin_sessions WHERE token_hash = $1;

-- name: purge-admin-sessions
DELETE FROM admin_sessions WHERE expires_at <= now();
