DROP TABLE person_merges;
ALTER TABLE referrals DROP COLUMN person_as_sent;
DROP INDEX people_created;
DROP INDEX people_match;
ALTER TABLE people DROP COLUMN merged_into;
ALTER TABLE people DROP COLUMN possible_duplicate_of;
ALTER TABLE people DROP COLUMN version;
