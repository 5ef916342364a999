DROP TRIGGER audit_events_no_update;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
ALTER TABLE referrals DROP COLUMN anonymised_at;
DROP INDEX people_erased;
ALTER TABLE people DROP COLUMN erasure_reason;
ALTER TABLE people DROP COLUMN erased_by;
ALTER TABLE people DROP COLUMN erased_at;
