-- Campaign messages derive their portal and unsubscribe tokens from one random key per campaign
-- (sealed here; erased when the campaign ends) rather than carrying two sealed tokens each, and
-- show the campaign's single sealed content rather than a copy per recipient: the content is the
-- same for every recipient, and a million copies of it cost a million encryptions at fan-out.
ALTER TABLE campaigns ADD COLUMN link_key_sealed bytea;

-- Fan-out's heartbeat: a campaign left in 'staging' with an old heartbeat lost its fan-out job
-- (a worker killed, Redis flushed) and the sweep starts another from the checkpoint.
ALTER TABLE campaigns ADD COLUMN fanout_at timestamptz;
