-- A referral's specific needs (the second level under its reasons), comma-separated codes in
-- code-list order; NULL when none was given. Reasons stay in referral_reasons, rolled up.
ALTER TABLE referrals ADD COLUMN specific_needs TEXT;
