ALTER TABLE referrals DROP COLUMN specific_needs;
