-- name: insert-contact
-- One contact per address: a second create returns nothing and the caller reads the first.
INSERT INTO contacts (id, email_index, email_sealed, name_sealed, external_ref_sealed, created_by,
                      tag_macs, organization_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (email_index) DO NOTHING
RETURNING id;

-- name: set-contact-tags
UPDATE contacts SET tag_macs = $2 WHERE id = $1 RETURNING id;

-- name: contact-by-index
SELECT id FROM contacts WHERE email_index = $1;

-- name: contact-index
-- A contact of the organization $2 only: another's contact id is as unknown as a random one.
SELECT email_index FROM contacts WHERE id = $1 AND organization_id = $2;

-- name: contact-email
SELECT email_sealed FROM contacts WHERE id = $1;

-- name: insert-consent-event
INSERT INTO consent_events (contact_id, purpose, action, source, actor, authorization_id)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING id;

-- name: insert-authorization
INSERT INTO marketing_authorizations (id, contact_id, terms_sealed, expires_at, ends_on_event,
    signed_at, revocation_right_noted, remuneration, document_sha256, confirm_token_hash,
    created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11);

-- name: plaintext-authorization-terms
SELECT id, information_used, used_by, purpose_description, expiry_event
FROM marketing_authorizations WHERE terms_sealed IS NULL ORDER BY id LIMIT $1;

-- name: seal-authorization-terms
UPDATE marketing_authorizations
SET terms_sealed = $2, ends_on_event = ends_on_event OR expiry_event IS NOT NULL,
    information_used = NULL, used_by = NULL, purpose_description = NULL, expiry_event = NULL
WHERE id = $1 AND terms_sealed IS NULL;

-- name: authorization-by-confirm-token
SELECT a.id, a.contact_id, c.email_index
FROM marketing_authorizations a JOIN contacts c ON c.id = a.contact_id
WHERE a.confirm_token_hash = $1;

-- name: consent-ledgers
-- Every event of every contact behind the given addresses, in the order written: the input of
-- the pure consent decision. One query for a whole batch of messages. Looked up address by
-- address, as recipient-states is and for the same reason: a plan kept from when `contacts` was
-- small must not hash a scan of the whole table once an upload has filled it (OFFSET 0 keeps the
-- ledger's subquery from being flattened into such a join).
SELECT w.email_index, l.purpose, l.action, l.source, l.at, l.authorization_id, l.expires_at,
       l.ends_on_event
FROM unnest($1::bytea[]) AS w (email_index)
CROSS JOIN LATERAL (SELECT id FROM contacts WHERE email_index = w.email_index LIMIT 1) c
CROSS JOIN LATERAL (
    SELECT e.id, e.purpose, e.action, e.source, e.at, a.id AS authorization_id, a.expires_at,
           a.ends_on_event
    FROM consent_events e LEFT JOIN marketing_authorizations a ON a.id = e.authorization_id
    WHERE e.contact_id = c.id
    OFFSET 0
) l
ORDER BY l.id;

-- name: suppressed-among
SELECT email_index FROM suppressions WHERE email_index = ANY($1::bytea[]);

-- name: insert-suppression
INSERT INTO suppressions (email_index, reason, detail) VALUES ($1, $2, $3)
ON CONFLICT (email_index) DO NOTHING
RETURNING email_index;

-- name: unsubscribe-target
-- The message an unsubscribe link names, found as in portal-message: by its token's hash ($1)
-- or, for a campaign message, by the id its token carries ($2), HMAC checked by the caller.
-- Each row is looked up on its own, as in portal-message.
SELECT m.id AS message_id, m.recipient_index, c.id AS contact_id, m.campaign_id,
       m.unsubscribe_hash IS NULL AS derived_link, k.link_key_sealed
FROM (
    (SELECT id, recipient_index, campaign_id, unsubscribe_hash FROM messages
     WHERE unsubscribe_hash = $1 LIMIT 1)
    UNION ALL
    (SELECT id, recipient_index, campaign_id, unsubscribe_hash FROM messages
     WHERE id = $2 AND unsubscribe_hash IS NULL AND campaign_id IS NOT NULL LIMIT 1)
) m
LEFT JOIN LATERAL (SELECT link_key_sealed FROM campaigns WHERE id = m.campaign_id LIMIT 1) k
    ON true
LEFT JOIN LATERAL (SELECT id FROM contacts WHERE email_index = m.recipient_index LIMIT 1) c
    ON true;

-- name: recipient-states
-- Everything acceptance needs about each of a batch of addresses ($1), in one round trip: the
-- contact's sealed name, whether the address is suppressed, and its consent ledger in the order
-- written; and the message the sending key ($2) already accepted under the request's
-- Idempotency-Key ($3), if any (NULL: none looked for). One row per address, in their order.
--
-- Planned once per connection, not once per batch. Each lookup is a LATERAL probe that LIMIT 1
-- keeps from being flattened into a join, so a plan made while a table was small cannot become
-- a whole-table join as it grows: as joins, the plan kept from an almost empty `messages` hashed
-- a sequential scan of it at every batch. With the plan safe to keep, the arrays go in through
-- sub-selects, which hide their lengths from the planner: PostgreSQL then keeps its generic plan
-- instead of planning every batch anew for its size (about 0.5 ms a batch, five times what
-- running it took).
SELECT w.n, c.id AS contact_id, c.name_sealed, s.email_index IS NOT NULL AS suppressed,
       l.purposes, l.actions, l.sources, l.ats, l.authorization_ids, l.expires_ats,
       l.ends_on_events,
       i.id AS idempotent_id, i.request_digest AS idempotent_digest,
       i.send_at AS idempotent_send_at
FROM unnest((SELECT $1::bytea[]), (SELECT $2::uuid[]), (SELECT $3::text[])) WITH ORDINALITY
    AS w(email_index, api_key_id, idempotency_key, n)
LEFT JOIN LATERAL (
    SELECT email_index FROM suppressions WHERE email_index = w.email_index LIMIT 1
) s ON true
LEFT JOIN LATERAL (
    SELECT id, name_sealed FROM contacts WHERE email_index = w.email_index LIMIT 1
) c ON true
LEFT JOIN LATERAL (
    SELECT id, request_digest, send_at FROM messages
    WHERE api_key_id = w.api_key_id AND idempotency_key = w.idempotency_key LIMIT 1
) i ON true
LEFT JOIN LATERAL (
    SELECT array_agg(e.purpose ORDER BY e.id) AS purposes,
           array_agg(e.action ORDER BY e.id) AS actions,
           array_agg(e.source ORDER BY e.id) AS sources,
           array_agg(e.at ORDER BY e.id) AS ats,
           array_agg(a.id ORDER BY e.id) AS authorization_ids,
           array_agg(a.expires_at ORDER BY e.id) AS expires_ats,
           array_agg(a.ends_on_event ORDER BY e.id) AS ends_on_events
    FROM consent_events e LEFT JOIN marketing_authorizations a ON a.id = e.authorization_id
    WHERE e.contact_id = c.id
) l ON true
ORDER BY w.n;

-- name: lock-contact
-- Serialises one contact's preference-centre posts. NO KEY: ledger inserts (their foreign key's
-- KEY SHARE) are not held up.
SELECT id FROM contacts WHERE id = $1 FOR NO KEY UPDATE;
