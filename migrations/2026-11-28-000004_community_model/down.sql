DROP TABLE user_blocks;
DROP TABLE user_profiles;
DROP TABLE community_bans;
DROP TABLE community_invites;
ALTER TABLE channels DROP COLUMN group_id, DROP COLUMN view_role, DROP COLUMN post_role;
DROP TABLE group_members;
DROP TABLE groups;
DROP INDEX communities_discoverable;
ALTER TABLE communities DROP COLUMN icon_ref, DROP COLUMN banner_ref,
    DROP COLUMN welcome_message, DROP COLUMN discoverable;
