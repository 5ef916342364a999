-- An erased person's row stays as a tombstone: ids keep the records reports count joined up,
-- and these say when, by whom and why the personal data went (see docs/privacy.md).
ALTER TABLE people ADD COLUMN erased_at TIMESTAMP;
ALTER TABLE people ADD COLUMN erased_by TEXT;
ALTER TABLE people ADD COLUMN erasure_reason TEXT;
-- Lists leave erased people's records out (connections by a subquery on this): few rows.
CREATE INDEX people_erased ON people (id) WHERE erased_at IS NOT NULL;
-- When a referral's free text was cleared (erasure or retention): purge skips it after.
ALTER TABLE referrals ADD COLUMN anonymised_at TIMESTAMP;

-- The trail stays append-only but for one change: an anonymous caller's subject
-- (`anonymous@ADDRESS`, a self-referrer's network address) may become plain `anonymous`
-- when the person it concerns is erased. Nothing else about a row may change.
DROP TRIGGER audit_events_no_update;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
WHEN NOT (OLD.actor_role = 'anonymous' AND NEW.actor_sub = 'anonymous'
    AND NEW.id IS OLD.id AND NEW.occurred_at IS OLD.occurred_at
    AND NEW.actor_role IS OLD.actor_role AND NEW.actor_org_id IS OLD.actor_org_id
    AND NEW.action IS OLD.action AND NEW.resource_type IS OLD.resource_type
    AND NEW.resource_id IS OLD.resource_id AND NEW.resource_ids IS OLD.resource_ids
    AND NEW.outcome IS OLD.outcome AND NEW.request_id IS OLD.request_id
    AND NEW.person_id IS OLD.person_id AND NEW.referral_id IS OLD.referral_id)
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
