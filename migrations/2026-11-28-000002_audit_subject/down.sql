ALTER TABLE audit_events DROP COLUMN subject_id;
