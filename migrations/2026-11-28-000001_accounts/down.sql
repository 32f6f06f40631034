DROP TABLE audit_events;
DROP TABLE instance_settings;
DROP TABLE invites;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE devices;
DROP TABLE backup_codes;
DROP TABLE users;
