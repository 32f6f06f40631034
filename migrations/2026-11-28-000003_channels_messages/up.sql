-- Communities, channels, membership and messages: the minimal model the real-time gateway needs.

CREATE TABLE communities (
    id          UUID PRIMARY KEY,
    name        VARCHAR(100) NOT NULL,
    description VARCHAR(1000) NOT NULL DEFAULT '',
    -- 'public': anyone may join; 'private': invitation only
    visibility  VARCHAR(16) NOT NULL DEFAULT 'private' CHECK (visibility IN ('public', 'private')),
    owner_id    UUID NOT NULL REFERENCES users (id),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE community_members (
    community_id UUID NOT NULL REFERENCES communities (id) ON DELETE CASCADE,
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         VARCHAR(16) NOT NULL DEFAULT 'member'
                 CHECK (role IN ('owner', 'admin', 'moderator', 'member')),
    joined_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (community_id, user_id)
);
CREATE INDEX community_members_user ON community_members (user_id);

CREATE TABLE channels (
    id             UUID PRIMARY KEY,
    -- NULL for direct messages and group DMs
    community_id   UUID REFERENCES communities (id) ON DELETE CASCADE,
    kind           VARCHAR(16) NOT NULL
                   CHECK (kind IN ('text', 'voice', 'announcement', 'dm', 'group_dm')),
    name           VARCHAR(100) NOT NULL DEFAULT '',
    topic          VARCHAR(1000) NOT NULL DEFAULT '',
    -- end-to-end encrypted (bodies are opaque ciphertext) or plaintext
    e2e            BOOLEAN NOT NULL DEFAULT TRUE,
    slow_mode_secs INTEGER NOT NULL DEFAULT 0 CHECK (slow_mode_secs >= 0 AND slow_mode_secs <= 600),
    archived       BOOLEAN NOT NULL DEFAULT FALSE,
    position       INTEGER NOT NULL DEFAULT 0,
    -- the last sequence number handed out in this channel
    last_seq       BIGINT NOT NULL DEFAULT 0,
    -- for DMs and group DMs: the member ids in order, so that opening one is idempotent
    dm_key         TEXT UNIQUE,
    created_by     UUID REFERENCES users (id) ON DELETE SET NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((community_id IS NULL) = (kind IN ('dm', 'group_dm')))
);
CREATE INDEX channels_community ON channels (community_id, position);

-- Explicit members of DMs and group DMs (community channels follow community membership).
CREATE TABLE channel_members (
    channel_id UUID NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (channel_id, user_id)
);
CREATE INDEX channel_members_user ON channel_members (user_id);

CREATE TABLE messages (
    id               UUID PRIMARY KEY,
    channel_id       UUID NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    -- position in the channel, assigned at commit; unique and increasing
    seq              BIGINT NOT NULL,
    -- the channel sequence number of the latest change (edit, delete, reaction); = seq if none
    updated_seq      BIGINT NOT NULL,
    sender_id        UUID REFERENCES users (id) ON DELETE SET NULL,
    sender_device_id UUID,
    -- client-chosen idempotency key: a retried send returns the stored message
    nonce            VARCHAR(64) NOT NULL,
    -- exactly one of: plaintext (plaintext channels) or ciphertext (end-to-end channels);
    -- both NULL once deleted
    body_text        TEXT,
    body_cipher      BYTEA,
    reply_to         UUID,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    edited_at        TIMESTAMPTZ,
    deleted_at       TIMESTAMPTZ,
    UNIQUE (channel_id, seq),
    UNIQUE (channel_id, sender_id, nonce),
    CHECK (body_text IS NULL OR body_cipher IS NULL)
);
CREATE INDEX messages_channel_updated ON messages (channel_id, updated_seq);

-- Earlier versions of edited messages.
CREATE TABLE message_edits (
    message_id  UUID NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    edited_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    body_text   TEXT,
    body_cipher BYTEA,
    PRIMARY KEY (message_id, edited_at)
);

CREATE TABLE reactions (
    message_id UUID NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    emoji      VARCHAR(64) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, user_id, emoji)
);

-- How far each user has read each channel.
CREATE TABLE read_markers (
    user_id       UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel_id    UUID NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    last_read_seq BIGINT NOT NULL DEFAULT 0,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, channel_id)
);
