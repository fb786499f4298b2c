-- The marketing refusal of one address, NULL when marketing mail is allowed: policy/consent.py's
-- rule over the state that migration 0008 keeps, in the same order of reasons
-- (tests/test_consent_state.py holds the two together). One definition for the fan-out's
-- verdicts and for "everyone authorized" audiences. A single SQL expression, so the planner
-- inlines it: no function call per row.
CREATE FUNCTION marketing_refusal(m marketing_consent, suppressed boolean) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN suppressed THEN 'suppressed'
                WHEN m.grant_id IS NULL THEN 'no_authorization'
                WHEN m.revoked_by = 'unsubscribe_link' THEN 'unsubscribed'
                WHEN m.revoked_by IS NOT NULL THEN 'authorization_revoked'
                WHEN m.authorization_id IS NULL THEN 'no_authorization'
                WHEN m.expires_at <= now() THEN 'authorization_expired'
                WHEN NOT m.confirmed THEN 'authorization_unconfirmed'
           END
$$;
