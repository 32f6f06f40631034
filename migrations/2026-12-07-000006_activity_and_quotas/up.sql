-- When a channel last got a new message (or was created): the channel list is ordered by it,
-- newest first, and paged on (last_activity_at, id).
ALTER TABLE channels ADD COLUMN last_activity_at TIMESTAMPTZ NOT NULL DEFAULT now();
UPDATE channels c SET last_activity_at = COALESCE(
    (SELECT max(m.created_at) FROM messages m WHERE m.channel_id = c.id), c.created_at);
