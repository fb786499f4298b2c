-- Opens and clicks made by machines (mail privacy proxies, image proxies, link scanners) are
-- counted apart from people's, as their own aggregate rows: only the class is kept, never what
-- made the request. Rows counted before this migration were not classified and stay people's.
ALTER TABLE engagement ADD COLUMN machine boolean NOT NULL DEFAULT false;
ALTER TABLE engagement DROP CONSTRAINT engagement_pkey;
ALTER TABLE engagement ADD PRIMARY KEY (campaign_id, target, day, machine);
