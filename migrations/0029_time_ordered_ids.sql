-- Version-7 UUIDs (RFC 9562) for message rows made in SQL (a campaign's fan-out), as
-- service/core/randomness.time_ordered_uuid makes them in Python: the millisecond, then random
-- bits. Ids in time order land at the right edge of the primary key and the events' message
-- index instead of on a random page each (one full-page WAL image per index per message at
-- ten million rows). PostgreSQL 15 has no uuidv7(): a random UUID's first six bytes become the
-- clock's milliseconds and its version nibble 7.
CREATE FUNCTION time_ordered_uuid() RETURNS uuid LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp())
                                                     * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;
