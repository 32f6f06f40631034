-- The object an audited action was done to (a suspended user, a revoked invite, ...).
ALTER TABLE audit_events ADD COLUMN subject_id UUID;
