-- API keys: the secret is never stored, only its SHA-256 (keys carry 256 bits of entropy).
CREATE TABLE api_keys (
    id          uuid PRIMARY KEY,
    key_id      text NOT NULL UNIQUE,
    secret_hash bytea NOT NULL,
    role        text NOT NULL CHECK (role IN ('sender', 'marketer', 'admin')),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- One row per accepted message: the transactional outbox. PHI columns are sealed (AES-256-GCM):
-- recipient and token under the master keyring, content under a key that also needs the token.
CREATE TABLE messages (
    id                    uuid PRIMARY KEY,
    api_key_id            uuid NOT NULL REFERENCES api_keys (id),
    purpose               text NOT NULL CHECK (purpose IN ('treatment', 'operations', 'marketing')),
    status                text NOT NULL
        CHECK (status IN ('queued', 'sending', 'sent', 'retrying', 'failed', 'rejected')),
    subject               text NOT NULL,
    recipient_sealed      bytea NOT NULL,
    -- Kept only until the email is delivered or given up: the worker needs it to build the link.
    token_sealed          bytea,
    token_hash            bytea NOT NULL UNIQUE,
    -- Erased when the portal link expires.
    content_sealed        bytea,
    verification_hash     bytea,
    verification_failures integer NOT NULL DEFAULT 0,
    attempts              integer NOT NULL DEFAULT 0,
    last_error_class      text,
    next_attempt_at       timestamptz NOT NULL DEFAULT now(),
    lease_until           timestamptz,
    give_up_at            timestamptz NOT NULL,
    expires_at            timestamptz NOT NULL,
    idempotency_key       text,
    request_digest        bytea,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    sent_at               timestamptz,
    UNIQUE (api_key_id, idempotency_key)
);

-- The sweeper's scan: only rows that still need work are indexed.
CREATE INDEX messages_due ON messages (next_attempt_at)
    WHERE status IN ('queued', 'retrying');
CREATE INDEX messages_leased ON messages (lease_until) WHERE status = 'sending';
CREATE INDEX messages_expiring ON messages (expires_at) WHERE content_sealed IS NOT NULL;

-- Every status change, for support and audit; error details are classes, never addresses.
CREATE TABLE message_events (
    id          bigserial PRIMARY KEY,
    message_id  uuid NOT NULL REFERENCES messages (id),
    status      text NOT NULL,
    error_class text,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX message_events_message ON message_events (message_id, id);
