-- Its own transaction, so the SHARE UPDATE EXCLUSIVE lock of VALIDATE does not extend the
-- ACCESS EXCLUSIVE one 0015 took: the service keeps reading and writing meanwhile.
ALTER TABLE messages VALIDATE CONSTRAINT messages_status_check;
ALTER TABLE consent_events VALIDATE CONSTRAINT consent_events_source_check;
