-- name: merge-engagement
INSERT INTO engagement AS e (campaign_id, target, day, total, registers)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (campaign_id, target, day) DO UPDATE
SET total = e.total + EXCLUDED.total, registers = hll_union(e.registers, EXCLUDED.registers);

-- name: campaign-engagement
SELECT target, sum(total)::bigint AS total, hll_union_agg(registers) AS registers
FROM engagement WHERE campaign_id = $1 GROUP BY target;

-- name: campaign-clickers
-- Unique clickers over all links: the nonce is shared by every token of one email.
SELECT hll_union_agg(registers) FROM engagement WHERE campaign_id = $1 AND target > 0;

-- name: campaign-links
SELECT links FROM campaigns WHERE id = $1;

-- name: campaign-delivery-counts
-- A bounce by mail (status bounced) came after the relay took the message: not delivered.
SELECT count(*) FILTER (WHERE status = 'sent') AS delivered,
       count(*) FILTER (WHERE status = 'bounced'
                        OR (status = 'failed'
                            AND last_error_class IN ('smtp_permanent', 'mailbox_unknown')))
           AS bounced,
       count(*) FILTER (WHERE complained_at IS NOT NULL) AS complained,
       count(*) FILTER (WHERE status = 'failed'
                        AND last_error_class NOT IN ('smtp_permanent', 'mailbox_unknown'))
           AS failed
FROM messages WHERE campaign_id = $1;

-- name: campaigns-in-window
-- Campaigns a key may see ($1 NULL: all, for admins) that started in [$2, $3), or earlier and
-- still drew opens or clicks in it.
SELECT id, name, tracking, started_at FROM campaigns c
WHERE ($1::uuid IS NULL OR api_key_id = $1) AND started_at < $3
  AND (started_at >= $2
       OR EXISTS (SELECT 1 FROM engagement e
                  WHERE e.campaign_id = c.id AND e.day >= ($2 AT TIME ZONE 'UTC')::date))
ORDER BY started_at, id;

-- name: daily-deliveries
SELECT (sent_at AT TIME ZONE 'UTC')::date AS day, count(*) AS delivered
FROM messages
WHERE campaign_id = ANY($1::uuid[]) AND status = 'sent'
  AND sent_at >= $2 AND sent_at < $3
GROUP BY 1;

-- name: daily-engagement
-- Per day, per campaign: summing unique counts across campaigns is right (different emails).
SELECT day, campaign_id, target = 0 AS is_open, sum(total)::bigint AS total,
       hll_union_agg(registers) AS registers
FROM engagement
WHERE campaign_id = ANY($1::uuid[]) AND day >= $2::date AND day < $3::date
GROUP BY day, campaign_id, target = 0;
