-- Public images (docs/api.md "Images"): avatars, banners, community icons and custom emoji,
-- re-encoded by the server and named by the SHA-256 of the stored bytes. A row says the blob
-- is an image of that kind; `touched_at` moves when a profile, a community or an emoji names
-- it, and an image nothing names is reclaimed a while after it was last touched.
CREATE TABLE images (
    sha256       bytea       NOT NULL CHECK (octet_length(sha256) = 32),
    kind         varchar(8)  NOT NULL CHECK (kind IN ('avatar', 'banner', 'icon', 'emoji')),
    uploader_id  uuid        REFERENCES users (id) ON DELETE SET NULL,
    content_type varchar(16) NOT NULL CHECK (content_type IN ('image/webp', 'image/jpeg')),
    width        integer     NOT NULL CHECK (width > 0),
    height       integer     NOT NULL CHECK (height > 0),
    size         bigint      NOT NULL CHECK (size >= 0),
    touched_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sha256, kind)
);
CREATE INDEX images_touched ON images (touched_at);

-- A community's own emoji, written `:name:` and sent in messages and reactions as
-- `<:name:ref>` (up to 100 bytes, hence the wider reaction column).
CREATE TABLE community_emoji (
    id           uuid        PRIMARY KEY,
    community_id uuid        NOT NULL REFERENCES communities (id) ON DELETE CASCADE,
    name         varchar(32) NOT NULL CHECK (name ~ '^[a-z0-9_]{2,32}$'),
    image_ref    varchar(64) NOT NULL,
    created_by   uuid        REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (community_id, name)
);
CREATE INDEX community_emoji_image ON community_emoji (image_ref);

-- Reclamation asks whether anything names an image.
CREATE INDEX user_profiles_avatar ON user_profiles (avatar_ref) WHERE avatar_ref IS NOT NULL;
CREATE INDEX user_profiles_banner ON user_profiles (banner_ref) WHERE banner_ref IS NOT NULL;
CREATE INDEX communities_icon ON communities (icon_ref) WHERE icon_ref IS NOT NULL;
CREATE INDEX communities_banner ON communities (banner_ref) WHERE banner_ref IS NOT NULL;

ALTER TABLE reactions ALTER COLUMN emoji TYPE varchar(100);
