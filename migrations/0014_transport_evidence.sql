-- Transport evidence (HIPAA 164.312(e)): how each delivered message was protected on its way to
-- the relay. Written by the statement that marks a message sent; NULL before that, and for
-- messages sent before this migration (their evidence was not kept). The fingerprint is the hex
-- SHA-256 of the relay's DER certificate; the name is the host it was verified against. None of
-- it names a recipient. No CHECK constraints: adding one would scan the whole table, and the
-- one writer (mark-sent) passes what Python's ssl module reported.
ALTER TABLE messages
    ADD COLUMN tls_version text,
    ADD COLUMN tls_cipher text,
    ADD COLUMN tls_certificate_sha256 text,
    ADD COLUMN tls_verified_name text;
