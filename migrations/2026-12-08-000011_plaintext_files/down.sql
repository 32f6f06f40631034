DROP INDEX files_thumb;
ALTER TABLE files
    DROP COLUMN thumb_sha256,
    DROP COLUMN height,
    DROP COLUMN width,
    DROP COLUMN content_type,
    DROP COLUMN name;
