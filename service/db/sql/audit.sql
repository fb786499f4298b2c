-- name: audit-lock
-- Appends are serialised so each record chains to the one before it.
SELECT pg_advisory_xact_lock($1);

-- name: audit-last-hash
SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1;

-- name: audit-insert
INSERT INTO audit_log (at, actor, action, object_type, object_id, outcome, detail, prev_hash, hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9);

-- name: audit-records
SELECT id, at, actor, action, object_type, object_id, outcome, detail, prev_hash, hash
FROM audit_log ORDER BY id;
