-- Dashboard sign-in to OWASP ASVS level 2: a TOTP second factor per admin key, idle and absolute
-- session timeouts, and a sign-in lockout whose counters live here (not in Redis) so that an
-- outage of Redis cannot turn into unlimited guesses.

-- The TOTP secret is sealed under the master key (bound to the key's id); confirmed_at is NULL
-- while an enrolment waits for its first code. last_step is the newest time-step accepted, so a
-- code cannot be used twice.
CREATE TABLE admin_totp (
    api_key_id    uuid PRIMARY KEY REFERENCES api_keys (id),
    secret_sealed bytea NOT NULL,
    confirmed_at  timestamptz,
    last_step     bigint
);

-- A session's absolute end is expires_at; last_seen_at slides its idle end. An 'enrol' session
-- may only finish enrolment: it becomes a 'signed_in' session, under a new token, once the
-- first code is accepted. Sessions begun with the key alone end here.
DELETE FROM admin_sessions;
ALTER TABLE admin_sessions
    ADD COLUMN last_seen_at timestamptz NOT NULL,
    ADD COLUMN stage text NOT NULL CHECK (stage IN ('enrol', 'signed_in'));
CREATE INDEX admin_sessions_key ON admin_sessions (api_key_id);

-- One row per failed sign-in per subject ('key:<key id>' or 'client:<address>').
CREATE TABLE admin_sign_in_failures (
    subject text NOT NULL,
    at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_sign_in_failures_subject ON admin_sign_in_failures (subject, at);

CREATE TABLE admin_sign_in_locks (
    subject      text PRIMARY KEY,
    locked_until timestamptz NOT NULL
);
