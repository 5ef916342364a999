-- The activity report's running totals: every record's contribution to each figure, summed
-- per scope (all organisations, or one referring organisation), day and key, kept up to date
-- in the transaction that changes the record (see `domain::tally`). A report sums a few rows
-- per day instead of reading the period's records.
CREATE TABLE report_tallies (
    scope     TEXT    NOT NULL,
    day       INTEGER NOT NULL,
    metric    TEXT    NOT NULL,
    since_day INTEGER NOT NULL,
    until_day INTEGER NOT NULL,
    key1      TEXT    NOT NULL,
    key2      TEXT    NOT NULL,
    n         BIGINT  NOT NULL,
    total     BIGINT  NOT NULL,
    PRIMARY KEY (scope, day, metric, since_day, until_day, key1, key2)
);

-- Each person's distinct event days (referred, first contact, measured after a baseline) per
-- scope, with how many of their records fall on each: what distinct-people totals are chained
-- on, kept so a change to one referral reads the person's days, not all their referrals.
CREATE TABLE person_event_days (
    person_id TEXT    NOT NULL,
    metric    TEXT    NOT NULL,
    scope     TEXT    NOT NULL,
    day       INTEGER NOT NULL,
    n         BIGINT  NOT NULL,
    PRIMARY KEY (person_id, metric, scope, day)
);

-- The report no longer reads the records, so their report indexes only slow writes down.
DROP INDEX referrals_report;
DROP INDEX referrals_first_contact;
DROP INDEX referral_status_changes_report;
DROP INDEX referral_status_changes_decisions;
DROP INDEX sessions_report;
DROP INDEX connections_report;
DROP INDEX outcomes_report;
