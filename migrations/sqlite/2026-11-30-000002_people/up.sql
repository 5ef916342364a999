-- People as one record each, shared by their referrals; duplicates are flagged, never merged
-- silently; each referral keeps the person's details as its sender sent them.

ALTER TABLE people ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
-- No foreign keys on the added columns: SQLite cannot drop a column that has one.
ALTER TABLE people ADD COLUMN possible_duplicate_of TEXT;
ALTER TABLE people ADD COLUMN merged_into TEXT;
CREATE INDEX people_match ON people (date_of_birth);
CREATE INDEX people_created ON people (created_at, id);

-- The person as sent (JSON with the people columns' names), so a referrer always reads back
-- what it sent, whatever the person's record later says or whoever else referred them.
ALTER TABLE referrals ADD COLUMN person_as_sent TEXT;
UPDATE referrals SET person_as_sent = (
    SELECT json_object(
        'given_name', p.given_name, 'family_name', p.family_name,
        'date_of_birth', p.date_of_birth, 'nhs_number', p.nhs_number,
        'phone', p.phone, 'email', p.email, 'postcode', p.postcode, 'address', p.address,
        'preferred_contact', p.preferred_contact)
    FROM people p WHERE p.id = referrals.person_id);

CREATE TABLE person_merges (
    id           TEXT PRIMARY KEY NOT NULL,
    survivor_id  TEXT NOT NULL REFERENCES people (id),
    duplicate_id TEXT NOT NULL REFERENCES people (id),
    actor_sub    TEXT NOT NULL,
    merged_at    TIMESTAMP NOT NULL
);
