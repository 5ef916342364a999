-- Every referral gets a short reference people can quote; self-referrals may name whoever
-- introduced the person (JSON: name, relationship, phone, email).
ALTER TABLE referrals ADD COLUMN reference TEXT;
-- Referrals from before take one from their id's random tail.
UPDATE referrals SET reference = 'LW-' || upper(substr(replace(id, '-', ''), 27, 6));
CREATE UNIQUE INDEX referrals_reference ON referrals (reference);
ALTER TABLE referrals ADD COLUMN introduced_by TEXT;
