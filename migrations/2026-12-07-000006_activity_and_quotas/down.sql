ALTER TABLE channels DROP COLUMN last_activity_at;
