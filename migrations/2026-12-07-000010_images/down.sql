DELETE FROM reactions WHERE octet_length(emoji) > 64;
ALTER TABLE reactions ALTER COLUMN emoji TYPE varchar(64);
DROP INDEX communities_banner;
DROP INDEX communities_icon;
DROP INDEX user_profiles_banner;
DROP INDEX user_profiles_avatar;
DROP TABLE community_emoji;
DROP TABLE images;
