DROP TABLE consent_records;
ALTER TABLE connections DROP COLUMN frozen_details;
