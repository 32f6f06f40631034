DROP INDEX files_unclaimed;
DROP INDEX files_message;
ALTER TABLE files DROP COLUMN message_id;
