-- The preference centre behind the unsubscribe link records the patient's wider choice (no
-- operations emails either) under a source of its own. NOT VALID, as in 0015, so adding it does
-- not scan the ledger under the exclusive lock; there is nothing to validate later either: every
-- existing row passed the narrower check this one widens.
ALTER TABLE consent_events DROP CONSTRAINT consent_events_source_check;
ALTER TABLE consent_events ADD CONSTRAINT consent_events_source_check
    CHECK (source IN ('registration_form', 'portal', 'paper', 'api', 'confirmation_link',
                      'unsubscribe_link', 'complaint', 'preference_centre'))
    NOT VALID;
