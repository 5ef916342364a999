DROP INDEX users_email_folded;
DROP INDEX people_current_nhs_number;
ALTER TABLE people DROP COLUMN possible_duplicate_reason;
