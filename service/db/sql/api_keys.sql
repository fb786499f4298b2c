-- name: insert-api-key
INSERT INTO api_keys (id, key_id, secret_hash, role, name) VALUES ($1, $2, $3, $4, $5);

-- name: find-api-key
-- Looked up by the public half of the key; the secret half is compared in constant time in Python.
SELECT id, secret_hash, role, name FROM api_keys WHERE key_id = $1 AND revoked_at IS NULL;
