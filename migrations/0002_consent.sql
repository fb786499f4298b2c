-- Contacts: the address is sealed; lookups go through a keyed blind index (HMAC of the
-- case-folded address), so the table alone does not say who is a patient here.
CREATE TABLE contacts (
    id                  uuid PRIMARY KEY,
    email_index         bytea NOT NULL UNIQUE,
    email_sealed        bytea NOT NULL,
    name_sealed         bytea,
    external_ref_sealed bytea,
    created_by          uuid NOT NULL REFERENCES api_keys (id),
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- HIPAA marketing authorization (45 CFR 164.508(c)): the core elements, as signed. Immutable;
-- confirmation (double opt-in) and revocation are consent events.
CREATE TABLE marketing_authorizations (
    id                     uuid PRIMARY KEY,
    contact_id             uuid NOT NULL REFERENCES contacts (id),
    information_used       text NOT NULL,
    used_by                text NOT NULL,
    purpose_description    text NOT NULL,
    expires_at             timestamptz,
    expiry_event           text,
    signed_at              timestamptz NOT NULL,
    revocation_right_noted boolean NOT NULL CHECK (revocation_right_noted),
    remuneration           boolean NOT NULL,
    document_sha256        bytea NOT NULL CHECK (length(document_sha256) = 32),
    confirm_token_hash     bytea NOT NULL UNIQUE,
    created_by             uuid NOT NULL REFERENCES api_keys (id),
    created_at             timestamptz NOT NULL DEFAULT now(),
    CHECK (expires_at IS NOT NULL OR expiry_event IS NOT NULL)
);

-- The consent ledger: every grant, confirmation and revocation is a new row; the current state
-- is derived from the rows, never edited in place.
CREATE TABLE consent_events (
    id               bigserial PRIMARY KEY,
    contact_id       uuid NOT NULL REFERENCES contacts (id),
    purpose          text NOT NULL CHECK (purpose IN ('treatment', 'operations', 'marketing')),
    action           text NOT NULL CHECK (action IN ('grant', 'confirm', 'revoke')),
    source           text NOT NULL CHECK (source IN ('registration_form', 'portal', 'paper', 'api',
                                                     'confirmation_link', 'unsubscribe_link')),
    actor            text NOT NULL,
    authorization_id uuid REFERENCES marketing_authorizations (id),
    at               timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX consent_events_contact ON consent_events (contact_id, id);

-- Addresses that get nothing at all: hard bounces, complaints, manual entries.
CREATE TABLE suppressions (
    email_index bytea PRIMARY KEY,
    reason      text NOT NULL CHECK (reason IN ('hard_bounce', 'complaint', 'manual')),
    detail      text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Messages: the blind index for the re-check before sending, the link kind, and the sealed
-- one-click unsubscribe token (marketing only; only its hash stays after sending).
ALTER TABLE messages
    ADD COLUMN recipient_index bytea,
    ADD COLUMN kind text NOT NULL DEFAULT 'secure_message'
        CHECK (kind IN ('secure_message', 'confirmation')),
    ADD COLUMN unsubscribe_sealed bytea,
    ADD COLUMN unsubscribe_hash bytea UNIQUE;

-- Accountability: every use of PHI or consent, hash-chained so an edit or a deletion shows.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL,
    action      text NOT NULL,
    object_type text NOT NULL,
    object_id   text NOT NULL,
    outcome     text NOT NULL,
    detail      text,
    prev_hash   bytea NOT NULL,
    hash        bytea NOT NULL UNIQUE
);

CREATE FUNCTION forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;

CREATE TRIGGER consent_events_append_only BEFORE UPDATE OR DELETE ON consent_events
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER marketing_authorizations_immutable BEFORE UPDATE OR DELETE
    ON marketing_authorizations FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
