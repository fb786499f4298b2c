-- A message handed to the relay is stamped before its DATA goes out and cleared when its result
-- is recorded. A lapsed lease on a stamped row is the one case where the relay may already have
-- taken the message: the sweep counts those re-sends as possible duplicates.
ALTER TABLE messages ADD COLUMN on_wire_since timestamptz;

-- Set by the sent mark, cleared once the delivery's audit record is written: the worker records
-- each delivery the moment the relay takes it (one statement), and appends the audit records a
-- batch at a time; a worker lost in between leaves the flag for the next one, so none is lost.
ALTER TABLE messages ADD COLUMN delivery_audit_pending boolean NOT NULL DEFAULT false;
CREATE INDEX messages_delivery_audit_pending ON messages (id) WHERE delivery_audit_pending;

-- Monotonic counters kept by the database (shared by every process, kept across restarts), for
-- /metrics. A counter's row is made by its first increment.
CREATE TABLE delivery_counters (
    name  text PRIMARY KEY,
    value bigint NOT NULL DEFAULT 0
);
