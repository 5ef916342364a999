DROP INDEX audit_events_page;
DROP INDEX audit_events_action;
DROP INDEX audit_events_actor;
DROP INDEX audit_events_referral;
DROP INDEX audit_events_person;
ALTER TABLE audit_events DROP COLUMN referral_id;
ALTER TABLE audit_events DROP COLUMN person_id;
