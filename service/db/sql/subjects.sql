-- name: approved-subjects
SELECT id, subject, normalized, created_at FROM approved_subjects WHERE organization_id = $1
ORDER BY created_at, id;

-- name: approved-subjects-page
-- The organization's ($1) list a page at a time, oldest first, after the sort key ($2, $3) of the
-- page before; $4 is the page size plus one (service/core/pagination.py).
SELECT id, subject, created_at FROM approved_subjects
WHERE organization_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3::uuid))
ORDER BY created_at, id
LIMIT $4;

-- name: insert-approved-subject
INSERT INTO approved_subjects (id, subject, normalized, created_by, organization_id)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (organization_id, normalized) DO NOTHING
RETURNING id;

-- name: delete-approved-subject
DELETE FROM approved_subjects WHERE id = $1 AND organization_id = $2 RETURNING id;
