-- name: approved-subjects
SELECT id, subject, normalized, created_at FROM approved_subjects ORDER BY created_at, id;

-- name: insert-approved-subject
INSERT INTO approved_subjects (id, subject, normalized, created_by) VALUES ($1, $2, $3, $4)
ON CONFLICT (normalized) DO NOTHING
RETURNING id;

-- name: delete-approved-subject
DELETE FROM approved_subjects WHERE id = $1 RETURNING id;
