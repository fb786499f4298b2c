-- The marketing ledger's current state per contact, kept by the database itself so that a
-- campaign's fan-out can check consent for thousands of recipients with one join instead of
-- replaying every recipient's ledger (which was two thirds of the fan-out's time).
--
-- Derived, never written by the service: a statement trigger on consent_events recomputes the
-- contacts an INSERT touched from their whole ledger, the same rule as policy/consent.py
-- (the latest grant counts; a later revocation ends it; a later confirmation naming the same
-- authorization confirms it). tests/test_consent_state.py holds the two to the same table of
-- cases. Expiry is not stored as a verdict: it is compared with now() when read.
CREATE TABLE marketing_consent (
    contact_id       uuid PRIMARY KEY REFERENCES contacts (id),
    email_index      bytea NOT NULL UNIQUE,
    grant_id         bigint,
    authorization_id uuid,
    expires_at       timestamptz,
    confirmed        boolean NOT NULL DEFAULT false,
    revoked_by       text
);

-- Recomputes the state of the given contacts from their whole marketing ledger. (IN (SELECT
-- unnest(...)) rather than = ANY(...): a bulk load passes a million ids, and a semi-join hashes
-- them where ANY would scan the array for every row.)
CREATE FUNCTION recompute_marketing_consent(contacts uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- Lock the state rows first, in a fixed order; the recomputation below is a new statement
    -- with a new snapshot, so it sees every event committed by a writer that held the lock
    -- before us, whatever order their ids were drawn in.
    INSERT INTO marketing_consent (contact_id, email_index)
    SELECT c.id, c.email_index FROM contacts c WHERE c.id IN (SELECT unnest(contacts))
    ORDER BY c.id
    ON CONFLICT (contact_id) DO NOTHING;
    PERFORM 1 FROM marketing_consent s WHERE s.contact_id IN (SELECT unnest(contacts))
    ORDER BY s.contact_id FOR UPDATE;
    UPDATE marketing_consent s
    SET grant_id = g.id, authorization_id = g.authorization_id, expires_at = a.expires_at,
        confirmed = coalesce(l.confirmed, false), revoked_by = l.revoked_by
    FROM (
        SELECT DISTINCT ON (e.contact_id) e.contact_id, e.id, e.authorization_id
        FROM consent_events e
        WHERE e.purpose = 'marketing' AND e.action = 'grant'
          AND e.contact_id IN (SELECT unnest(contacts))
        ORDER BY e.contact_id, e.id DESC
    ) g
    LEFT JOIN marketing_authorizations a ON a.id = g.authorization_id
    LEFT JOIN LATERAL (
        SELECT (array_agg(e.source ORDER BY e.id) FILTER (WHERE e.action = 'revoke'))[1]
                   AS revoked_by,
               bool_or(e.action = 'confirm' AND e.authorization_id = g.authorization_id)
                   AS confirmed
        FROM consent_events e
        WHERE e.contact_id = g.contact_id AND e.purpose = 'marketing' AND e.id > g.id
    ) l ON true
    WHERE s.contact_id = g.contact_id;
END
$$;

CREATE FUNCTION refresh_marketing_consent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM recompute_marketing_consent(
        ARRAY(SELECT DISTINCT contact_id FROM new_events WHERE purpose = 'marketing'));
    RETURN NULL;
END
$$;

CREATE TRIGGER consent_events_marketing_state
AFTER INSERT ON consent_events REFERENCING NEW TABLE AS new_events
FOR EACH STATEMENT EXECUTE FUNCTION refresh_marketing_consent();

-- The ledgers written before this migration.
SELECT recompute_marketing_consent(
    ARRAY(SELECT DISTINCT contact_id FROM consent_events WHERE purpose = 'marketing'));

-- Campaign messages carry no idempotency key; leaving them out of its unique index spares every
-- fanned-out row an index entry that could never conflict.
ALTER TABLE messages DROP CONSTRAINT messages_api_key_id_idempotency_key_key;
CREATE UNIQUE INDEX messages_idempotency ON messages (api_key_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
