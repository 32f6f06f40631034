-- Every device of an account (docs/e2e.md section 18): pending device links, the account's
-- secret storage and its encrypted key backup. The server holds only opaque bytes it cannot
-- read or forge; it checks their framing, the account they name and the order of writes.

-- A device removed by its account: its sessions are revoked and its keys deleted; the row stays
-- (revoked sessions refer to it) but it is no longer listed and its secret no longer logs in.
ALTER TABLE devices ADD COLUMN removed_at TIMESTAMPTZ;

-- Whether members' devices hand a channel's past sender keys to a new member's devices
-- (docs/e2e.md 18.5); on by default.
ALTER TABLE channels ADD COLUMN history_for_new_members BOOLEAN NOT NULL DEFAULT TRUE;

-- A new device's request to be linked (LinkRequest, 161 bytes) and, once a device of the
-- account answered, the answer (LinkResponse). One per device; expires after ten minutes.
CREATE TABLE link_requests (
    device_id           UUID PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    user_id             UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    request             BYTEA NOT NULL CHECK (length(request) = 161),
    response            BYTEA CHECK (length(response) BETWEEN 1 AND 1024),
    responder_device_id UUID,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX link_requests_user ON link_requests (user_id);

-- The user key and backup key sealed under the recovery key (SecretStorage); the latest
-- version only, each write the next version.
CREATE TABLE secret_storage (
    user_id    UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    version    BIGINT NOT NULL CHECK (version >= 1),
    storage    BYTEA NOT NULL CHECK (length(storage) BETWEEN 1 AND 1024),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The key backup: append-only chunks (BackupChunk) numbered from 1, and the head (BackupHead)
-- that names how many of them make the backup. `chunk_count` and `chunk_bytes` are the
-- stored chunks' count and size (the quota); the row is locked by every append.
CREATE TABLE key_backups (
    user_id     UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    chunk_count BIGINT NOT NULL DEFAULT 0 CHECK (chunk_count >= 0),
    chunk_bytes BIGINT NOT NULL DEFAULT 0 CHECK (chunk_bytes >= 0),
    head        BYTEA CHECK (length(head) = 97),
    head_seq    BIGINT NOT NULL DEFAULT 0 CHECK (head_seq >= 0),
    head_count  BIGINT NOT NULL DEFAULT 0 CHECK (head_count >= 0 AND head_count <= chunk_count),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE key_backup_chunks (
    user_id    UUID NOT NULL REFERENCES key_backups (user_id) ON DELETE CASCADE,
    seq        BIGINT NOT NULL CHECK (seq >= 1),
    chunk      BYTEA NOT NULL CHECK (length(chunk) BETWEEN 1 AND 1048633),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, seq)
);
