-- name: insert-api-key
INSERT INTO api_keys (id, key_id, secret_hash, role, name, organization_id)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: find-api-key
-- Looked up by the public half of the key; the secret half is compared in constant time in Python.
SELECT k.id, k.secret_hash, k.role, k.name, k.organization_id, o.index_scope
FROM api_keys k JOIN organizations o ON o.id = k.organization_id
WHERE k.key_id = $1 AND k.revoked_at IS NULL;

-- name: insert-organization
INSERT INTO organizations (id, name, index_scope) VALUES ($1, $2, $3)
ON CONFLICT (name) DO NOTHING
RETURNING id;

-- name: organization-by-name
SELECT id FROM organizations WHERE name = $1;

-- name: organizations
SELECT id, name FROM organizations ORDER BY created_at, id;
