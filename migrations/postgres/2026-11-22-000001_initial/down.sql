DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
DROP TABLE idempotency_keys;
DROP TABLE referral_reasons;
DROP TABLE referrals;
DROP TABLE people;
DROP TABLE organisations;
