-- The message that names a file (docs/e2e.md 19.2): set once, when the message is stored; a
-- file no message names is reclaimed after a day (19.4).
ALTER TABLE files ADD COLUMN message_id uuid REFERENCES messages (id) ON DELETE CASCADE;
CREATE INDEX files_message ON files (message_id);
CREATE INDEX files_unclaimed ON files (created_at) WHERE message_id IS NULL;
