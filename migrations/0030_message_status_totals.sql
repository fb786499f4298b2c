-- How many messages reached each status since the start, for /metrics and the health page.
-- They counted `messages` by status, a read of the whole table on every scrape (4 to 6 s at ten
-- million rows). Every status change already writes a message_events row in the statement that
-- makes it, so a statement trigger adds those up here. Each status has up to 16 rows, picked
-- by the writing backend, so that concurrent writers (API batches, the delivery recorder,
-- fan-out lanes) seldom wait for one another's row.
CREATE TABLE message_status_totals (
    status text NOT NULL,
    shard  smallint NOT NULL,
    n      bigint NOT NULL,
    PRIMARY KEY (status, shard)
);

CREATE FUNCTION count_message_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO message_status_totals AS t (status, shard, n)
    SELECT status, pg_backend_pid() % 16, count(*) FROM new_events GROUP BY status
    ON CONFLICT (status, shard) DO UPDATE SET n = t.n + excluded.n;
    RETURN NULL;
END
$$;
CREATE TRIGGER message_events_totals AFTER INSERT ON message_events
REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION count_message_events();

-- After the trigger: creating it locks out event writers until this migration commits, so the
-- count below sees every event written before, and the trigger every one written after.
INSERT INTO message_status_totals (status, shard, n)
SELECT status, 0, count(*) FROM message_events GROUP BY status;
