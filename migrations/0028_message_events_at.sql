-- The delivery-health page reads the last 24 hours of message events by time. The table is
-- append-only in time order, so a BRIN index on `at` is a few pages and keeps that read from
-- scanning the whole table as it grows.
CREATE INDEX message_events_at ON message_events USING brin (at);
