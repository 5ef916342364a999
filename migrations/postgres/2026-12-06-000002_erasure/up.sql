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
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.actor_role = 'anonymous' AND NEW.actor_sub = 'anonymous'
        AND (NEW.id, NEW.occurred_at, NEW.actor_role, NEW.actor_org_id, NEW.action,
             NEW.resource_type, NEW.resource_id, NEW.resource_ids, NEW.outcome,
             NEW.request_id, NEW.person_id, NEW.referral_id)
        IS NOT DISTINCT FROM
            (OLD.id, OLD.occurred_at, OLD.actor_role, OLD.actor_org_id, OLD.action,
             OLD.resource_type, OLD.resource_id, OLD.resource_ids, OLD.outcome,
             OLD.request_id, OLD.person_id, OLD.referral_id)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit events are append-only';
END;
$$;
