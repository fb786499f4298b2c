-- name: message-for-report
-- With the sending organization's index scope, to check a bounce names the message's recipient.
-- A campaign's messages have no key of their own: the campaign's is the sender.
SELECT m.id, m.status, m.recipient_index, m.campaign_id, m.purpose, m.complained_at,
       o.index_scope
FROM messages m LEFT JOIN campaigns c ON c.id = m.campaign_id
JOIN api_keys k ON k.id = coalesce(m.api_key_id, c.api_key_id)
JOIN organizations o ON o.id = k.organization_id
WHERE m.id = $1;

-- name: mark-bounced
WITH m AS (
    UPDATE messages SET status = 'bounced', bounced_at = now(), last_error_class = $2,
           updated_at = now()
    WHERE id = $1 AND status = 'sent'
    RETURNING id
), e AS (
    INSERT INTO message_events (message_id, status, error_class)
    SELECT id, 'bounced', $2 FROM m
)
SELECT id FROM m;

-- name: count-soft-bounce
UPDATE messages SET soft_bounces = soft_bounces + 1 WHERE id = $1;

-- name: mark-complained
UPDATE messages SET complained_at = now() WHERE id = $1 AND complained_at IS NULL RETURNING id;

-- name: insert-inbound-report
INSERT INTO inbound_reports (outcome, reason, message_id) VALUES ($1, $2, $3);

-- name: inbound-report-counts
SELECT outcome, coalesce(reason, '') AS reason, count(*) AS n FROM inbound_reports
GROUP BY 1, 2 ORDER BY 1, 2;
