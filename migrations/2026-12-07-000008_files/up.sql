-- Files uploaded to a channel (docs/e2e.md 19): the bytes are in the file store under their
-- SHA-256; a row says whose they are, where they may be read and how much they weigh.
CREATE TABLE files (
    id          uuid        PRIMARY KEY,
    channel_id  uuid        NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    uploader_id uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sha256      bytea       NOT NULL CHECK (octet_length(sha256) = 32),
    size        bigint      NOT NULL CHECK (size >= 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX files_uploader ON files (uploader_id);
CREATE INDEX files_channel ON files (channel_id);
CREATE INDEX files_sha256 ON files (sha256);
