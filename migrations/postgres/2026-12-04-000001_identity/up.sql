-- Identity safety: why a person's record is flagged as a possible duplicate; one current
-- record per NHS number, kept by the database; user emails unique whatever their case.

ALTER TABLE people ADD COLUMN possible_duplicate_reason TEXT
    CHECK (possible_duplicate_reason IN
        ('similar_name_and_date_of_birth', 'nhs_number_demographics_differ', 'same_nhs_number'));
-- Every flag made so far was a name-and-birth match.
UPDATE people SET possible_duplicate_reason = 'similar_name_and_date_of_birth'
    WHERE possible_duplicate_of IS NOT NULL;

-- Records that concurrent intake made for one NHS number before this rule: each later one is
-- flagged as a possible duplicate of the earliest, for staff to merge (never merged here).
UPDATE people SET
    possible_duplicate_of = (
        SELECT e.id FROM people e
        WHERE e.nhs_number = people.nhs_number AND e.merged_into IS NULL
        ORDER BY e.created_at, e.id LIMIT 1),
    possible_duplicate_reason = CASE WHEN EXISTS (
        SELECT 1 FROM people e
        WHERE e.id = (
            SELECT f.id FROM people f
            WHERE f.nhs_number = people.nhs_number AND f.merged_into IS NULL
            ORDER BY f.created_at, f.id LIMIT 1)
          AND e.date_of_birth = people.date_of_birth
          AND lower(replace(e.family_name, ' ', '')) = lower(replace(people.family_name, ' ', '')))
        THEN 'same_nhs_number' ELSE 'nhs_number_demographics_differ' END
WHERE nhs_number IS NOT NULL AND merged_into IS NULL AND EXISTS (
    SELECT 1 FROM people e
    WHERE e.nhs_number = people.nhs_number AND e.merged_into IS NULL
      AND (e.created_at < people.created_at OR (e.created_at = people.created_at AND e.id < people.id)));

-- One current record per NHS number. A record flagged as holding another record's number
-- stands outside the rule until staff merge it or correct one of the numbers.
CREATE UNIQUE INDEX people_current_nhs_number ON people (nhs_number)
    WHERE nhs_number IS NOT NULL AND merged_into IS NULL
      AND (possible_duplicate_reason IS NULL
           OR possible_duplicate_reason = 'similar_name_and_date_of_birth');

-- Emails are stored with the domain lower-cased and compared whole ignoring case (they are
-- ASCII, so lower() folds them alike on both backends). Users registered twice under one
-- email in different case must be told apart by hand before this applies.
CREATE UNIQUE INDEX users_email_folded ON users (lower(email));
