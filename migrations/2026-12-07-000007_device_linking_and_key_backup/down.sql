DROP TABLE key_backup_chunks;
DROP TABLE key_backups;
DROP TABLE secret_storage;
DROP TABLE link_requests;
ALTER TABLE devices DROP COLUMN removed_at;
ALTER TABLE channels DROP COLUMN history_for_new_members;
