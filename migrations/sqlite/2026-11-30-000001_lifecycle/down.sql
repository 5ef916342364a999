DROP TABLE referral_status_changes;
DROP INDEX referrals_assignee;
ALTER TABLE referrals DROP COLUMN first_contact_at;
ALTER TABLE referrals DROP COLUMN assignee_id;
ALTER TABLE referrals DROP COLUMN gp_record_code;
ALTER TABLE referrals DROP COLUMN closure_reason;
ALTER TABLE referrals DROP COLUMN status_reason;
DROP TABLE users;
