-- name: insert-api-key
INSERT INTO api_keys (id, key_id, secret_hash, role, name, organization_id, expires_at, rotated_from)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: find-api-key
-- Looked up by the public half of the key; the secret half is compared in constant time in Python.
-- An expired key is refused as a revoked one is; its expiry also bounds how long it is cached.
SELECT k.id, k.secret_hash, k.role, k.name, k.organization_id, o.index_scope, k.expires_at
FROM api_keys k JOIN organizations o ON o.id = k.organization_id
WHERE k.key_id = $1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now());

-- name: list-api-keys
-- $1: one organization's keys, or (NULL) every organization's; $2, $3: after this
-- (created_at, key_id), newest first; $4: at most this many (NULL: all); $5: this key alone.
-- Never the secret's hash.
SELECT k.key_id, k.name, k.role, o.name AS organization, k.created_at, k.last_used_at,
       k.expires_at, k.revoked_at, p.key_id AS rotated_from,
       CASE WHEN k.revoked_at IS NOT NULL THEN 'revoked'
            WHEN k.expires_at <= now() THEN 'expired'
            ELSE 'active' END AS status
FROM api_keys k
JOIN organizations o ON o.id = k.organization_id
LEFT JOIN api_keys p ON p.id = k.rotated_from
WHERE ($1::uuid IS NULL OR k.organization_id = $1)
  AND ($2::timestamptz IS NULL OR (k.created_at, k.key_id) < ($2, $3::text))
  AND ($5::text IS NULL OR k.key_id = $5)
ORDER BY k.created_at DESC, k.key_id DESC
LIMIT $4;

-- name: lock-api-key
-- The key a revocation or rotation changes, locked until it commits; $2 NULL: any
-- organization's (the operator's CLI). `successor` is a live key that rotation made from it.
SELECT k.id, k.key_id, k.role, k.name, k.organization_id, k.expires_at,
       k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now()) AS live,
       EXISTS (SELECT 1 FROM api_keys s WHERE s.rotated_from = k.id AND s.revoked_at IS NULL
               AND (s.expires_at IS NULL OR s.expires_at > now())) AS succeeded
FROM api_keys k
WHERE k.key_id = $1 AND ($2::uuid IS NULL OR k.organization_id = $2)
FOR UPDATE OF k;

-- name: revoke-api-key
UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL;

-- name: end-api-key-at
-- The old half of a rotation: valid until $2, or its own earlier expiry.
UPDATE api_keys SET expires_at = LEAST(expires_at, $2) WHERE id = $1;

-- name: notify-api-key-changed
-- Sent at commit to every API process, which forgets the keys it had verified (access/
-- key_events.py): a revoked or shortened key must not outlive the change in any cache.
SELECT pg_notify('api_keys_changed', $1);

-- name: touch-api-keys
-- Last use, a batch at a time (ids sorted, so two processes lock rows in the same order).
-- GREATEST ignores NULL and never moves a time back that another process wrote later.
UPDATE api_keys k SET last_used_at = GREATEST(k.last_used_at, u.at)
FROM unnest($1::uuid[], $2::timestamptz[]) AS u (id, at)
WHERE k.id = u.id;

-- name: insert-organization
INSERT INTO organizations (id, name, index_scope) VALUES ($1, $2, $3)
ON CONFLICT (name) DO NOTHING
RETURNING id;

-- name: organization-by-name
SELECT id FROM organizations WHERE name = $1;

-- name: organizations
SELECT id, name FROM organizations ORDER BY created_at, id;
