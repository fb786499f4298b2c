-- Marketing segments on contacts, kept only as keyed digests: a tag such as
-- "diabetes-education" would itself be health information, so its name is never stored.
ALTER TABLE contacts ADD COLUMN tag_macs bytea[] NOT NULL DEFAULT '{}';
CREATE INDEX contacts_tags ON contacts USING gin (tag_macs);
