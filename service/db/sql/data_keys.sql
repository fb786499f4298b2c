-- name: data-key
SELECT sealed FROM data_keys WHERE name = $1;

-- name: insert-data-key
-- Several processes may start at once on a new database: the first one's key wins.
INSERT INTO data_keys (name, sealed) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING;
