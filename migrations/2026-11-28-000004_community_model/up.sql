-- The full community model: community settings, groups, per-channel roles, community invites,
-- bans, profiles and blocks.

ALTER TABLE communities
    ADD COLUMN icon_ref        VARCHAR(200),
    ADD COLUMN banner_ref      VARCHAR(200),
    ADD COLUMN welcome_message VARCHAR(2000) NOT NULL DEFAULT '',
    -- listed in the public directory (only public communities can be)
    ADD COLUMN discoverable    BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX communities_discoverable ON communities (created_at)
    WHERE discoverable AND visibility = 'public';

-- Groups organise a community's channels. Public groups are joined by every member (new
-- members too); private groups by members that moderators add; a personal group belongs to one
-- member, assigned by moderators.
CREATE TABLE groups (
    id           UUID PRIMARY KEY,
    community_id UUID NOT NULL REFERENCES communities (id) ON DELETE CASCADE,
    name         VARCHAR(100) NOT NULL,
    kind         VARCHAR(16) NOT NULL CHECK (kind IN ('public', 'private', 'personal')),
    assigned_to  UUID REFERENCES users (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL DEFAULT 0,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((kind = 'personal') = (assigned_to IS NOT NULL))
);
CREATE INDEX groups_community ON groups (community_id, position);

CREATE TABLE group_members (
    group_id  UUID NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id   UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

-- Per-channel roles: the least community role that may read, and that may post.
ALTER TABLE channels
    ADD COLUMN group_id  UUID REFERENCES groups (id) ON DELETE CASCADE,
    ADD COLUMN view_role VARCHAR(16) NOT NULL DEFAULT 'member'
        CHECK (view_role IN ('owner', 'admin', 'moderator', 'member')),
    ADD COLUMN post_role VARCHAR(16) NOT NULL DEFAULT 'member'
        CHECK (post_role IN ('owner', 'admin', 'moderator', 'member'));
CREATE INDEX channels_group ON channels (group_id) WHERE group_id IS NOT NULL;
-- announcement channels created before this migration: only moderators and above post
UPDATE channels SET post_role = 'moderator' WHERE kind = 'announcement';

CREATE TABLE community_invites (
    id           UUID PRIMARY KEY,
    community_id UUID NOT NULL REFERENCES communities (id) ON DELETE CASCADE,
    -- SHA-256 of the code (80 random bits); the code itself is shown once
    code_hash    BYTEA NOT NULL UNIQUE,
    created_by   UUID REFERENCES users (id) ON DELETE SET NULL,
    max_uses     INTEGER CHECK (max_uses IS NULL OR max_uses > 0),
    uses         INTEGER NOT NULL DEFAULT 0,
    expires_at   TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX community_invites_community ON community_invites (community_id, created_at);

CREATE TABLE community_bans (
    community_id UUID NOT NULL REFERENCES communities (id) ON DELETE CASCADE,
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    banned_by    UUID REFERENCES users (id) ON DELETE SET NULL,
    reason       VARCHAR(500) NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (community_id, user_id)
);

-- The public profile beyond the display name (kept on users); a row once a user edits it.
CREATE TABLE user_profiles (
    user_id       UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    bio           VARCHAR(1000) NOT NULL DEFAULT '',
    pronouns      VARCHAR(40) NOT NULL DEFAULT '',
    custom_status VARCHAR(128) NOT NULL DEFAULT '',
    avatar_ref    VARCHAR(200),
    banner_ref    VARCHAR(200),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE user_blocks (
    blocker_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (blocker_id, blocked_id),
    CHECK (blocker_id <> blocked_id)
);
CREATE INDEX user_blocks_blocked ON user_blocks (blocked_id);
