-- Delivery that survives crashes with few duplicates, and says how many there may have been.
-- Both tables are kept off `messages` on purpose: they change with every message sent, and an
-- update of a `messages` row rewrites all of its indexes.

-- One row per SMTP session of a running worker: the message it has on the wire, if any. Written
-- with each record of the session's progress, before the message's DATA goes out. A lapsed lease
-- on a message named here is the one case where the relay may already have taken it: the sweep
-- counts those re-sends as possible duplicates.
CREATE TABLE wire_sessions (
    id          uuid PRIMARY KEY,
    message_id  uuid,
    touched_at  timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 50);

-- Deliveries whose audit record is still to be written: the sent mark adds the message here in
-- its statement, and a batch writes the records and removes them in one transaction. A worker
-- lost in between leaves them for the sweep, so no delivery goes unaudited, and the hash chain's
-- lock is taken once a batch, not once a message.
CREATE TABLE delivery_audit_queue (
    message_id  uuid PRIMARY KEY
);

-- Monotonic counters kept by the database (shared by every process, kept across restarts), for
-- /metrics. A counter's row is made by its first increment.
CREATE TABLE delivery_counters (
    name   text PRIMARY KEY,
    value  bigint NOT NULL DEFAULT 0
);
