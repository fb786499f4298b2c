-- name: practice-names
-- What the subject gate removes before detection, for the organization $1.
SELECT name FROM practice_names WHERE organization_id = $1 ORDER BY created_at, id;

-- name: practice-names-page
-- The organization's ($1) list a page at a time, oldest first, after the sort key ($2, $3) of the
-- page before; $4 is the page size plus one (service/core/pagination.py).
SELECT id, name, created_at FROM practice_names
WHERE organization_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3::uuid))
ORDER BY created_at, id
LIMIT $4;

-- name: insert-practice-name
INSERT INTO practice_names (id, name, normalized, created_by, organization_id)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (organization_id, normalized) DO NOTHING
RETURNING id;

-- name: delete-practice-name
DELETE FROM practice_names WHERE id = $1 AND organization_id = $2 RETURNING id;
