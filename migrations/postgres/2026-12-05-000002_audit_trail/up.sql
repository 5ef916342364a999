-- The trail is searched by whom a row concerns: each row names the person and the referral
-- it is about, as known when written, so a subject access request finds every access exactly.
ALTER TABLE audit_events ADD COLUMN person_id TEXT;
ALTER TABLE audit_events ADD COLUMN referral_id TEXT;

-- The append-only trigger is lifted for the backfill only, inside this migration's
-- transaction, and put back as it was.
ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change;
-- Rows written before name only a resource; the referral and person it concerns are derived
-- from it where the record still exists (ids are UUIDs, so an id names one record of one kind).
UPDATE audit_events SET referral_id = COALESCE(
    (SELECT r.id FROM referrals r WHERE r.id = audit_events.resource_id),
    (SELECT s.referral_id FROM sessions s WHERE s.id = audit_events.resource_id),
    (SELECT g.referral_id FROM goals g WHERE g.id = audit_events.resource_id),
    (SELECT c.referral_id FROM connections c WHERE c.id = audit_events.resource_id),
    (SELECT o.referral_id FROM outcomes o WHERE o.id = audit_events.resource_id),
    (SELECT k.referral_id FROM consent_records k WHERE k.id = audit_events.resource_id),
    (SELECT c.referral_id FROM connection_notes n JOIN connections c ON c.id = n.connection_id
        WHERE n.id = audit_events.resource_id))
WHERE resource_id IS NOT NULL;
UPDATE audit_events SET person_id = COALESCE(
    (SELECT p.id FROM people p WHERE p.id = audit_events.resource_id),
    (SELECT r.person_id FROM referrals r WHERE r.id = audit_events.referral_id))
WHERE resource_id IS NOT NULL;
ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_change;

-- Each filter reads newest first, keyset on (occurred_at, id).
CREATE INDEX audit_events_person ON audit_events (person_id, occurred_at, id);
CREATE INDEX audit_events_referral ON audit_events (referral_id, occurred_at, id);
CREATE INDEX audit_events_actor ON audit_events (actor_sub, occurred_at, id);
CREATE INDEX audit_events_action ON audit_events (action, occurred_at, id);
CREATE INDEX audit_events_page ON audit_events (occurred_at, id);
