-- name: audit-lock
-- Appends are serialised so each record chains to the one before it.
SELECT pg_advisory_xact_lock($1);

-- name: audit-last-hash
SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1;

-- name: audit-insert
INSERT INTO audit_log (at, actor, action, object_type, object_id, outcome, detail, prev_hash, hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9);

-- name: audit-span
-- The first id made at or after $1 and the last made before $2 (NULL: no bound). An export is
-- every id between the two: hosts' clocks differ a little, and only a contiguous run of the
-- chain can be checked on its own.
SELECT (SELECT min(id) FROM audit_log WHERE $1::timestamptz IS NULL OR at >= $1) AS first,
       (SELECT max(id) FROM audit_log WHERE $2::timestamptz IS NULL OR at < $2) AS last;

-- name: audit-records
SELECT id, at, actor, action, object_type, object_id, outcome, detail, prev_hash, hash
FROM audit_log WHERE id BETWEEN $1 AND $2 ORDER BY id;
