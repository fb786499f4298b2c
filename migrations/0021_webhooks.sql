-- Webhooks: an organization's endpoints, the events its changes produce (a durable outbox), each
-- event's delivery to each endpoint subscribed when it happened, and every attempt made.

-- The signing secret has to be recoverable to sign, so it is sealed (never hashed, never in the
-- clear). After a rotation the previous secret signs too, until previous_secret_until.
CREATE TABLE webhook_endpoints (
    id                     uuid PRIMARY KEY,
    organization_id        uuid NOT NULL REFERENCES organizations (id),
    url                    text NOT NULL,
    events                 text[] NOT NULL CHECK (cardinality(events) > 0),
    status                 text NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
    secret_sealed          bytea NOT NULL,
    previous_secret_sealed bytea,
    previous_secret_until  timestamptz,
    -- Since when every attempt has failed (NULL after any success): the disabling rule's clock.
    failing_since          timestamptz,
    disabled_at            timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_organization ON webhook_endpoints (organization_id, created_at, id);
-- What every trigger below asks first; with no enabled endpoint it is all they do.
CREATE INDEX webhook_endpoints_enabled ON webhook_endpoints (organization_id)
    WHERE status = 'enabled';

-- The event as sent (`data`): ids, statuses, reason classes and times only, never an address,
-- subject, content, token or name. Its id is the `webhook-id` of every attempt at every endpoint.
CREATE TABLE webhook_events (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations (id),
    type            text NOT NULL,
    data            jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_events_created ON webhook_events (created_at);

-- next_attempt_at doubles as the claim's lease: claiming pushes it past the request's timeout,
-- so a worker that dies mid-request leaves the delivery due again, not lost.
CREATE TABLE webhook_deliveries (
    endpoint_id     uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        uuid NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    status          text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

-- The endpoint's answer is kept as its status code alone: a response body could say anything.
CREATE TABLE webhook_attempts (
    id          bigserial PRIMARY KEY,
    endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id    uuid NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    http_status integer,
    error_class text,
    duration_ms integer NOT NULL,
    CHECK (http_status IS NOT NULL OR error_class IS NOT NULL)
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, at DESC, id DESC);
CREATE INDEX webhook_attempts_event ON webhook_attempts (event_id);

-- Times in payloads are UTC whatever the session's TimeZone (jsonb would use the session's).
CREATE FUNCTION webhook_time(at timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

CREATE FUNCTION webhook_subscribed(organization uuid, event_type text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM webhook_endpoints
                   WHERE organization_id = organization AND status = 'enabled'
                     AND event_type = ANY (events))
$$;

-- Each event becomes one delivery per endpoint subscribed at that moment, in the same
-- transaction as the change that caused it.
CREATE FUNCTION webhook_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (endpoint_id, event_id)
    SELECT w.id, e.id FROM new_events e
    JOIN webhook_endpoints w ON w.organization_id = e.organization_id AND w.status = 'enabled'
                            AND e.type = ANY (w.events);
    RETURN NULL;
END
$$;
CREATE TRIGGER webhook_events_fan_out AFTER INSERT ON webhook_events
REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION webhook_fan_out();

-- Every message status change already writes a message_events row, in the statement that makes
-- it (the delivery recorder's group commit marks thousands a second), so one statement trigger
-- there sees sent, retrying, failed, rejected and bounced in batches. With no enabled endpoint
-- it costs one index probe per statement.
CREATE FUNCTION webhook_message_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE status = 'enabled') THEN
        RETURN NULL;
    END IF;
    INSERT INTO webhook_events (organization_id, type, data, created_at)
    SELECT k.organization_id, 'message.' || e.status,
           jsonb_build_object('message_id', m.id, 'campaign_id', m.campaign_id,
                              'status', e.status, 'reason', e.error_class,
                              'at', webhook_time(e.at)),
           e.at
    FROM new_events e
    JOIN messages m ON m.id = e.message_id
    LEFT JOIN campaigns c ON c.id = m.campaign_id
    JOIN api_keys k ON k.id = coalesce(m.api_key_id, c.api_key_id)
    WHERE webhook_subscribed(k.organization_id, 'message.' || e.status);
    RETURN NULL;
END
$$;
CREATE TRIGGER message_events_webhooks AFTER INSERT ON message_events
REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION webhook_message_events();

-- A complaint marks its message (complained_at, once) without a status change. A row trigger on
-- that one column: statements that do not set it, the recorder's among them, never fire it.
CREATE FUNCTION webhook_complaint() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_events (organization_id, type, data, created_at)
    SELECT k.organization_id, 'complaint.received',
           jsonb_build_object('message_id', NEW.id, 'campaign_id', NEW.campaign_id,
                              'at', webhook_time(NEW.complained_at)),
           NEW.complained_at
    FROM api_keys k
    WHERE k.id = coalesce(NEW.api_key_id,
                          (SELECT c.api_key_id FROM campaigns c WHERE c.id = NEW.campaign_id))
      AND webhook_subscribed(k.organization_id, 'complaint.received');
    RETURN NULL;
END
$$;
CREATE TRIGGER messages_complaint_webhooks AFTER UPDATE OF complained_at ON messages
FOR EACH ROW WHEN (OLD.complained_at IS NULL AND NEW.complained_at IS NOT NULL)
EXECUTE FUNCTION webhook_complaint();

-- Revocations from every source (API, unsubscribe link, complaint) are consent_events rows.
CREATE FUNCTION webhook_consent_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE status = 'enabled') THEN
        RETURN NULL;
    END IF;
    INSERT INTO webhook_events (organization_id, type, data, created_at)
    SELECT c.organization_id, 'consent.revoked',
           jsonb_build_object('contact_id', e.contact_id, 'purpose', e.purpose,
                              'source', e.source, 'at', webhook_time(e.at)),
           e.at
    FROM new_events e JOIN contacts c ON c.id = e.contact_id
    WHERE e.action = 'revoke' AND webhook_subscribed(c.organization_id, 'consent.revoked');
    RETURN NULL;
END
$$;
CREATE TRIGGER consent_events_webhooks AFTER INSERT ON consent_events
REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION webhook_consent_events();

-- Fan-out moves each campaign's checkpoint a batch at a time; only the change to 'done' counts.
CREATE FUNCTION webhook_campaigns() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE status = 'enabled') THEN
        RETURN NULL;
    END IF;
    INSERT INTO webhook_events (organization_id, type, data)
    SELECT k.organization_id, 'campaign.finished',
           jsonb_build_object('campaign_id', n.id, 'status', n.status,
                              'at', webhook_time(now()))
    FROM new_rows n JOIN old_rows o ON o.id = n.id JOIN api_keys k ON k.id = n.api_key_id
    WHERE n.status = 'done' AND o.status <> 'done'
      AND webhook_subscribed(k.organization_id, 'campaign.finished');
    RETURN NULL;
END
$$;
CREATE TRIGGER campaigns_webhooks AFTER UPDATE ON campaigns
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION webhook_campaigns();
