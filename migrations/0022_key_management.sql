-- API keys an admin can manage: an optional expiry (a rotated key's old half gets one), when each
-- key was last used (written in batches, at most once a minute per API process), and the key a
-- rotation replaced. An expired key is refused as a revoked one is.
ALTER TABLE api_keys
    ADD COLUMN expires_at   timestamptz,
    ADD COLUMN last_used_at timestamptz,
    ADD COLUMN rotated_from uuid REFERENCES api_keys (id);

-- An organization's keys, newest first, a page at a time.
CREATE INDEX api_keys_organization_created ON api_keys (organization_id, created_at, key_id);
