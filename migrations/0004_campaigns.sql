-- Marketing campaigns. Content is sealed; the audience is sealed addresses with their blind
-- index, staged by upload and fanned out into ordinary outbox messages on send.
CREATE TABLE campaigns (
    id                uuid PRIMARY KEY,
    api_key_id        uuid NOT NULL REFERENCES api_keys (id),
    name              text NOT NULL,
    subject           text NOT NULL,
    teaser            text,
    content_sealed    bytea,
    links             text[] NOT NULL DEFAULT '{}',
    tracking          boolean NOT NULL DEFAULT false,
    rate_per_second   double precision NOT NULL CHECK (rate_per_second > 0),
    scheduled_at      timestamptz,
    status            text NOT NULL DEFAULT 'draft'
        CHECK (status IN ('draft', 'staging', 'sending', 'paused', 'cancelled', 'done')),
    -- Fan-out checkpoint: the last audience index turned into messages, advanced in the same
    -- transaction as each batch, so a restarted worker resumes where the last one stopped.
    fanout_cursor     bytea,
    fanout_position   bigint NOT NULL DEFAULT 0,
    -- What a paused campaign resumes to: still fanning out, or only sending.
    paused_from       text CHECK (paused_from IN ('staging', 'sending')),
    excluded          jsonb NOT NULL DEFAULT '{}',
    started_at        timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE campaign_audience (
    campaign_id  uuid NOT NULL REFERENCES campaigns (id),
    email_index  bytea NOT NULL,
    email_sealed bytea NOT NULL,
    PRIMARY KEY (campaign_id, email_index)
);

ALTER TABLE messages ADD COLUMN campaign_id uuid REFERENCES campaigns (id);
CREATE INDEX messages_campaign ON messages (campaign_id, status) WHERE campaign_id IS NOT NULL;
CREATE INDEX messages_campaign_sent ON messages (campaign_id, sent_at)
    WHERE campaign_id IS NOT NULL AND status = 'sent';

-- Upload scratch space: rows pass through here so COPY can be used and duplicates dropped in
-- SQL. UNLOGGED: it is emptied by the same transaction that fills it.
CREATE UNLOGGED TABLE audience_uploads (
    upload_id    uuid NOT NULL,
    email_index  bytea NOT NULL,
    email_sealed bytea NOT NULL
);
CREATE INDEX audience_uploads_upload ON audience_uploads (upload_id);
