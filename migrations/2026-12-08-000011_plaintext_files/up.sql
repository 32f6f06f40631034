-- What the server knows of a file in a plaintext channel (docs/e2e.md 19.1): its name, its
-- type, an image's dimensions and the thumbnail the server made of it (a blob of its own). A
-- file of an end-to-end channel has none of these.
ALTER TABLE files
    ADD COLUMN name varchar(255),
    ADD COLUMN content_type varchar(100),
    ADD COLUMN width integer CHECK (width > 0),
    ADD COLUMN height integer CHECK (height > 0),
    ADD COLUMN thumb_sha256 bytea CHECK (octet_length(thumb_sha256) = 32);
CREATE INDEX files_thumb ON files (thumb_sha256) WHERE thumb_sha256 IS NOT NULL;
