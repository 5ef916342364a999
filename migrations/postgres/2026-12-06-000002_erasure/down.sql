CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$;
ALTER TABLE referrals DROP COLUMN anonymised_at;
DROP INDEX people_erased;
ALTER TABLE people DROP COLUMN erasure_reason;
ALTER TABLE people DROP COLUMN erased_by;
ALTER TABLE people DROP COLUMN erased_at;
