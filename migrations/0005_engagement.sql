-- Aggregate engagement per campaign, per UTC day and per target (0 = opens, i + 1 = link i).
-- Only sums and HyperLogLog registers: nothing here names a message or a recipient, no row is
-- per event, and a day is the finest time kept.
CREATE TABLE engagement (
    campaign_id uuid NOT NULL REFERENCES campaigns (id),
    target      smallint NOT NULL CHECK (target >= 0),
    day         date NOT NULL,
    total       bigint NOT NULL CHECK (total >= 0),
    registers   bytea NOT NULL,
    PRIMARY KEY (campaign_id, target, day)
);

-- Union of two sketches of equal length: the larger rank wins in every register.
CREATE FUNCTION hll_union(a bytea, b bytea) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    merged bytea := a;
BEGIN
    FOR i IN 0 .. least(length(a), length(b)) - 1 LOOP
        IF get_byte(b, i) > get_byte(merged, i) THEN
            merged := set_byte(merged, i, get_byte(b, i));
        END IF;
    END LOOP;
    RETURN merged;
END
$$;

CREATE AGGREGATE hll_union_agg(bytea) (SFUNC = hll_union, STYPE = bytea, PARALLEL = SAFE);

-- Dashboard sign-ins: only the hash of the cookie's token is kept.
CREATE TABLE admin_sessions (
    token_hash  bytea PRIMARY KEY,
    api_key_id  uuid NOT NULL REFERENCES api_keys (id),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX admin_sessions_expiry ON admin_sessions (expires_at);
