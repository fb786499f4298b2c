-- Audience batches go into campaign_audience directly (INSERT ... FROM unnest ... ON CONFLICT
-- DO NOTHING): the scratch table that let COPY be used cost a second write and a DELETE of
-- every row.
DROP TABLE audience_uploads;
