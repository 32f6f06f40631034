DROP TABLE read_markers;
DROP TABLE reactions;
DROP TABLE message_edits;
DROP TABLE messages;
DROP TABLE channel_members;
DROP TABLE channels;
DROP TABLE community_members;
DROP TABLE communities;
