-- Campaign messages check their links instead of looking them up: a campaign token is the
-- message id and an HMAC of it under the campaign's link key (service/crypto.py), so fan-out
-- stores no token hashes, and the link key now lives as long as the campaign's links do rather
-- than being erased when the campaign ends (it is sealed under the master keys, which already
-- open the campaign's one shared content). Single messages keep random tokens stored as hashes.
ALTER TABLE messages ALTER COLUMN token_hash DROP NOT NULL;
ALTER TABLE messages DROP CONSTRAINT messages_token_hash_key;
CREATE UNIQUE INDEX messages_token_hash ON messages (token_hash) WHERE token_hash IS NOT NULL;
ALTER TABLE messages DROP CONSTRAINT messages_unsubscribe_hash_key;
CREATE UNIQUE INDEX messages_unsubscribe_hash ON messages (unsubscribe_hash)
    WHERE unsubscribe_hash IS NOT NULL;

-- A campaign message belongs to its campaign, whose key owns it; a second reference per row to
-- the same key was a foreign-key check for every fanned-out recipient.
ALTER TABLE messages ALTER COLUMN api_key_id DROP NOT NULL;
ALTER TABLE messages ADD CONSTRAINT messages_owner_and_link
    CHECK (campaign_id IS NOT NULL OR (api_key_id IS NOT NULL AND token_hash IS NOT NULL));
