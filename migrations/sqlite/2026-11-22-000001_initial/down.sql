DROP TRIGGER audit_events_no_delete;
DROP TRIGGER audit_events_no_update;
DROP TABLE audit_events;
DROP TABLE idempotency_keys;
DROP TABLE referral_reasons;
DROP TABLE referrals;
DROP TABLE people;
DROP TABLE organisations;
