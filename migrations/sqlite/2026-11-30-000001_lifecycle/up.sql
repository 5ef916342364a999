-- The referral lifecycle, link workers and their caseloads.

-- Staff who sign in as themselves; tokens name the user id as `sub`.
CREATE TABLE users (
    id           TEXT PRIMARY KEY NOT NULL,
    email        TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'coordinator', 'referrer', 'partner', 'commissioner')),
    org_id       TEXT REFERENCES organisations (id),
    active       BOOLEAN NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    version      BIGINT NOT NULL
);
CREATE INDEX users_created ON users (created_at, id);

ALTER TABLE referrals ADD COLUMN status_reason TEXT;
ALTER TABLE referrals ADD COLUMN closure_reason TEXT CHECK (closure_reason IN ('goals_met',
    'no_longer_wanted', 'unable_to_contact', 'moved_away', 'referred_elsewhere', 'other'));
ALTER TABLE referrals ADD COLUMN gp_record_code TEXT;
-- No foreign key: SQLite cannot drop a column that has one (see down.sql); users are checked
-- by the application before assignment.
ALTER TABLE referrals ADD COLUMN assignee_id TEXT;
ALTER TABLE referrals ADD COLUMN first_contact_at TIMESTAMP;
CREATE INDEX referrals_assignee ON referrals (assignee_id, received_at, id);

-- Every change of status, oldest first; the first row of each referral is its receipt.
CREATE TABLE referral_status_changes (
    id          TEXT PRIMARY KEY NOT NULL,
    referral_id TEXT NOT NULL REFERENCES referrals (id) ON DELETE CASCADE,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    reason_code TEXT,
    reason      TEXT,
    actor_sub   TEXT NOT NULL,
    actor_role  TEXT NOT NULL,
    changed_at  TIMESTAMP NOT NULL
);
CREATE INDEX referral_status_changes_referral ON referral_status_changes (referral_id, changed_at, id);

-- Referrals received before history was kept start theirs at receipt; their sender's role was
-- not recorded, but only referrers file referrals under an organisation, and staff (recorded as
-- coordinator) otherwise.
INSERT INTO referral_status_changes (id, referral_id, from_status, to_status, actor_sub, actor_role, changed_at)
SELECT id, id, NULL, 'received', created_by,
       CASE WHEN referrer_org_id IS NULL THEN 'coordinator' ELSE 'referrer' END, received_at
FROM referrals;
