-- Scheduled and cancellable single messages (issue 17). A scheduled message waits in status
-- 'scheduled' with next_attempt_at = send_at, so the claim walks it in the same index as the
-- rest of the outbox; 'cancelled' ends a message its sender withdrew before it was sent.
ALTER TABLE messages ADD COLUMN send_at timestamptz;

-- The new due index is built first, under the SHARE lock alone (reads go on; writes wait for
-- the build); the catalogue changes after it take the exclusive lock only for the moment left
-- before commit.
CREATE INDEX messages_waiting ON messages (next_attempt_at)
    WHERE status IN ('scheduled', 'queued', 'retrying');
DROP INDEX messages_due;
ALTER INDEX messages_waiting RENAME TO messages_due;

-- Widened, so every row 0016 validated passes it: NOT VALID spares a scan of the table under
-- the exclusive lock, and new and updated rows are checked all the same.
ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check
    CHECK (status IN ('scheduled', 'queued', 'sending', 'sent', 'retrying', 'failed', 'rejected',
                      'bounced', 'cancelled'))
    NOT VALID;
