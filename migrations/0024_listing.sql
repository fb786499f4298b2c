-- GET /v1/campaigns lists newest first by (created_at, id), a page at a time from a keyset
-- cursor: a marketer's own campaigns through the first index, an admin's organization's (its
-- keys' campaigns) through the second, so a page is one range scan however deep.
CREATE INDEX campaigns_key_created ON campaigns (api_key_id, created_at, id);
CREATE INDEX campaigns_created ON campaigns (created_at, id);
