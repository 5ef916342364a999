DROP INDEX consent_records_referral;
DROP TABLE consent_records;
ALTER TABLE connections DROP COLUMN frozen_details;
