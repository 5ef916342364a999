DROP TABLE person_event_days;
DROP TABLE report_tallies;
CREATE INDEX referrals_report ON referrals (received_at, source, referrer_org_id, person_id);
CREATE INDEX referrals_first_contact ON referrals (first_contact_at, person_id, referrer_org_id);
CREATE INDEX referral_status_changes_report ON referral_status_changes (to_status, changed_at, reason_code);
CREATE INDEX referral_status_changes_decisions ON referral_status_changes (referral_id, to_status);
CREATE INDEX sessions_report ON sessions (scheduled_at, kind, mode, status, duration_minutes);
CREATE INDEX connections_report ON connections (created_at, organisation_id, status, outcome);
CREATE INDEX outcomes_report ON outcomes (instrument, timepoint, referral_id, recorded_at);
