-- Tenancy: every API key belongs to an organization, and an organization's contacts, consent,
-- campaigns, approved subjects and metrics are its own. Rows made before tenancy belong to the
-- first organization, "default".
CREATE TABLE organizations (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    -- Prefixed to every keyed digest of the organization's data (address index, tag digests), so
    -- one address is two unrelated contacts in two organizations and no lookup can cross over.
    -- Empty for "default", whose digests were made before tenancy; a NUL then 16 random bytes
    -- for any other, which no address or tag can begin with.
    index_scope bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO organizations (id, name, index_scope)
VALUES ('00000000-0000-4000-8000-000000000001', 'default', '');

ALTER TABLE api_keys ADD COLUMN organization_id uuid NOT NULL
    DEFAULT '00000000-0000-4000-8000-000000000001' REFERENCES organizations (id);
ALTER TABLE api_keys ALTER COLUMN organization_id DROP DEFAULT;

-- Contacts are shared by an organization's keys, whichever key created them.
ALTER TABLE contacts ADD COLUMN organization_id uuid NOT NULL
    DEFAULT '00000000-0000-4000-8000-000000000001' REFERENCES organizations (id);
ALTER TABLE contacts ALTER COLUMN organization_id DROP DEFAULT;
-- The "every contact" audience walks one organization's contacts in index order.
CREATE INDEX contacts_organization ON contacts (organization_id, email_index);

ALTER TABLE approved_subjects ADD COLUMN organization_id uuid NOT NULL
    DEFAULT '00000000-0000-4000-8000-000000000001' REFERENCES organizations (id);
ALTER TABLE approved_subjects ALTER COLUMN organization_id DROP DEFAULT;
ALTER TABLE approved_subjects DROP CONSTRAINT approved_subjects_normalized_key;
ALTER TABLE approved_subjects ADD UNIQUE (organization_id, normalized);

-- An authorization's free text (what is used, by whom, for what, until which event) is the
-- clinic's own wording and may name a condition: it is sealed like message content, as one JSON
-- document. `python -m service migrate` seals the rows written before this migration.
ALTER TABLE marketing_authorizations
    ADD COLUMN terms_sealed bytea,
    ADD COLUMN ends_on_event boolean NOT NULL DEFAULT false,
    ALTER COLUMN information_used DROP NOT NULL,
    ALTER COLUMN used_by DROP NOT NULL,
    ALTER COLUMN purpose_description DROP NOT NULL;
ALTER TABLE marketing_authorizations
    DROP CONSTRAINT marketing_authorizations_check,
    -- (expiry_event: a row not yet sealed, as written by an older release mid-upgrade)
    ADD CHECK (expires_at IS NOT NULL OR ends_on_event OR expiry_event IS NOT NULL),
    -- Each row holds its terms either sealed or (until `migrate` seals them) in the clear.
    ADD CHECK ((terms_sealed IS NULL) = (information_used IS NOT NULL));

-- Authorizations stay immutable, but for sealing the free text (once, by `migrate`) and re-sealing
-- it under a new master key (`rotate-keys`): what the patient signed cannot change.
CREATE FUNCTION authorization_change_allowed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.terms_sealed IS NOT NULL
       AND NEW.information_used IS NULL AND NEW.used_by IS NULL
       AND NEW.purpose_description IS NULL AND NEW.expiry_event IS NULL
       AND NEW.ends_on_event = (OLD.ends_on_event OR OLD.expiry_event IS NOT NULL)
       AND (NEW.id, NEW.contact_id, NEW.expires_at, NEW.signed_at, NEW.revocation_right_noted,
            NEW.remuneration, NEW.document_sha256, NEW.confirm_token_hash, NEW.created_by,
            NEW.created_at)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.contact_id, OLD.expires_at, OLD.signed_at, OLD.revocation_right_noted,
            OLD.remuneration, OLD.document_sha256, OLD.confirm_token_hash, OLD.created_by,
            OLD.created_at)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$;
DROP TRIGGER marketing_authorizations_immutable ON marketing_authorizations;
CREATE TRIGGER marketing_authorizations_immutable BEFORE UPDATE OR DELETE
    ON marketing_authorizations FOR EACH ROW EXECUTE FUNCTION authorization_change_allowed();
