-- name: merge-engagement
INSERT INTO engagement AS e (campaign_id, target, machine, day, total, registers)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (campaign_id, target, day, machine) DO UPDATE
SET total = e.total + EXCLUDED.total, registers = hll_union(e.registers, EXCLUDED.registers);

-- name: campaign-periods
-- Per reporting period ($3 whole days from the campaign's first day $2), per target and class,
-- before day $4: only the periods that may be shown.
SELECT (day - $2::date) / $3 AS period, target, machine, sum(total)::bigint AS total,
       hll_union_agg(registers) AS registers
FROM engagement
WHERE campaign_id = $1 AND day >= $2::date AND day < $4::date
GROUP BY 1, 2, 3;

-- name: campaign-links
SELECT links FROM campaigns WHERE id = $1;

-- name: campaign-delivery-counts
-- A bounce by mail (status bounced) came after the relay took the message: not delivered. A
-- retired campaign's figures were kept when its messages went (migration 0031).
SELECT delivered, bounced, complained, failed FROM campaign_figures WHERE campaign_id = $1
UNION ALL
SELECT count(*) FILTER (WHERE status = 'sent') AS delivered,
       count(*) FILTER (WHERE status = 'bounced'
                        OR (status = 'failed'
                            AND last_error_class IN ('smtp_permanent', 'mailbox_unknown')))
           AS bounced,
       count(*) FILTER (WHERE complained_at IS NOT NULL) AS complained,
       count(*) FILTER (WHERE status = 'failed'
                        AND last_error_class NOT IN ('smtp_permanent', 'mailbox_unknown'))
           AS failed
FROM messages WHERE campaign_id = $1
HAVING NOT EXISTS (SELECT 1 FROM campaign_figures WHERE campaign_id = $1);

-- name: campaigns-in-window
-- Campaigns of the organization $4 a key may see ($1 NULL: all of them, for admins) that
-- started in [$2, $3). The range only chooses campaigns: each is shown whole, whatever the range.
SELECT c.id, c.name, c.tracking, c.started_at
FROM campaigns c JOIN api_keys k ON k.id = c.api_key_id
WHERE k.organization_id = $4 AND ($1::uuid IS NULL OR c.api_key_id = $1)
  AND c.started_at >= $2 AND c.started_at < $3
ORDER BY c.started_at, c.id;
