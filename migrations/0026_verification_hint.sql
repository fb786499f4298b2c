-- What the patient is asked before a secure message opens (issue 19): the sender's hint ("your
-- date of birth"), sealed to the link as the content is, and how the answer is compared: 'text'
-- (case and spaces ignored) or 'date' (hashed as YYYY-MM-DD; the patient may type any common
-- spelling). Both are NULL for a message without a question; a row from before this migration
-- with a question compares as text, as it always did.
ALTER TABLE messages ADD COLUMN verification_hint_sealed bytea;
ALTER TABLE messages ADD COLUMN verification_format text;
-- NOT VALID: every existing row is NULL and passes; the check spares a scan under the exclusive
-- lock, and new and updated rows are checked all the same.
ALTER TABLE messages ADD CONSTRAINT messages_verification_format_check
    CHECK (verification_format IN ('text', 'date')) NOT VALID;
