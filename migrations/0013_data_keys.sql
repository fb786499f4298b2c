-- Keys the service makes for itself, each sealed under the master key. They outlive any one
-- master key: rotating MASTER_KEYS re-seals them, and what they key (the blind indexes of
-- addresses and tags) stays valid. The index key starts as the keyring's last master key, which
-- keyed every index written before this table existed.
CREATE TABLE data_keys (
    name       text PRIMARY KEY,
    sealed     bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
