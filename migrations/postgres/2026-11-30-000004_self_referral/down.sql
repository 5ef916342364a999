ALTER TABLE referrals DROP COLUMN introduced_by;
DROP INDEX referrals_reference;
ALTER TABLE referrals DROP COLUMN reference;
