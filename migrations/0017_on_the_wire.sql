-- A message handed to the relay is stamped before its DATA goes out and cleared when its result
-- is recorded. A lapsed lease on a stamped row is the one case where the relay may already have
-- taken the message: the sweep counts those re-sends as possible duplicates.
ALTER TABLE messages ADD COLUMN on_wire_since timestamptz;

-- Monotonic counters kept by the database (shared by every process, kept across restarts), for
-- /metrics. A counter's row is made by its first increment.
CREATE TABLE delivery_counters (
    name  text PRIMARY KEY,
    value bigint NOT NULL DEFAULT 0
);
