-- Bounces and complaints that arrive by mail, after the relay accepted a message. The widened
-- CHECKs are added NOT VALID: checking every existing row here would hold the exclusive lock for
-- the whole scan; 0016 validates them under a lock that lets reads and writes go on.
ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check
    CHECK (status IN ('queued', 'sending', 'sent', 'retrying', 'failed', 'rejected', 'bounced'))
    NOT VALID;
ALTER TABLE messages
    ADD COLUMN soft_bounces integer NOT NULL DEFAULT 0,
    ADD COLUMN bounced_at   timestamptz,
    ADD COLUMN complained_at timestamptz;

-- A complaint to a mailbox provider withdraws marketing consent.
ALTER TABLE consent_events DROP CONSTRAINT consent_events_source_check;
ALTER TABLE consent_events ADD CONSTRAINT consent_events_source_check
    CHECK (source IN ('registration_form', 'portal', 'paper', 'api', 'confirmation_link',
                      'unsubscribe_link', 'complaint'))
    NOT VALID;

-- Every report the inbound listener read, by outcome and reason, for an operator; never its
-- content (a bounce quotes the recipient's address and the original headers).
CREATE TABLE inbound_reports (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    outcome     text NOT NULL CHECK (outcome IN ('hard_bounce', 'soft_bounce', 'delayed',
                                                 'complaint', 'duplicate', 'unmatched',
                                                 'unparsed')),
    reason      text,
    message_id  uuid REFERENCES messages (id) ON DELETE SET NULL
);
CREATE INDEX inbound_reports_received ON inbound_reports (received_at);
