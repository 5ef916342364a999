-- Linkwell initial schema (SQLite). Ids are UUID text made by the app; timestamps are UTC.
CREATE TABLE organisations (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('gp_practice', 'partner', 'agency', 'community_group')),
    ods_code    TEXT UNIQUE,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    version     BIGINT NOT NULL
);
CREATE INDEX organisations_created ON organisations (created_at, id);

CREATE TABLE people (
    id                TEXT PRIMARY KEY NOT NULL,
    given_name        TEXT NOT NULL,
    family_name       TEXT NOT NULL,
    date_of_birth     DATE NOT NULL,
    nhs_number        TEXT,
    phone             TEXT,
    email             TEXT,
    postcode          TEXT,
    address           TEXT,
    preferred_contact TEXT CHECK (preferred_contact IN ('phone', 'email', 'letter', 'text')),
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL
);
CREATE INDEX people_nhs_number ON people (nhs_number);

CREATE TABLE referrals (
    id                 TEXT PRIMARY KEY NOT NULL,
    person_id          TEXT NOT NULL REFERENCES people (id),
    status             TEXT NOT NULL CHECK (status IN ('received', 'accepted', 'active', 'on_hold',
                           'declined', 'rejected', 'closed', 'withdrawn', 'entered_in_error')),
    source             TEXT NOT NULL CHECK (source IN ('gp_practice', 'self', 'family_or_friend',
                           'other_agency', 'community')),
    summary            TEXT,
    referrer_org_id    TEXT,
    external_reference TEXT,
    created_by         TEXT NOT NULL,
    received_at        TIMESTAMP NOT NULL,
    updated_at         TIMESTAMP NOT NULL,
    version            BIGINT NOT NULL,
    UNIQUE (referrer_org_id, external_reference)
);
CREATE INDEX referrals_received ON referrals (received_at, id);
CREATE INDEX referrals_org_received ON referrals (referrer_org_id, received_at, id);
CREATE INDEX referrals_person ON referrals (person_id);

CREATE TABLE referral_reasons (
    referral_id TEXT NOT NULL REFERENCES referrals (id) ON DELETE CASCADE,
    reason      TEXT NOT NULL CHECK (reason IN ('emotional_wellbeing', 'loneliness', 'housing',
                    'money_and_benefits', 'employment_and_skills', 'healthy_lifestyle', 'family',
                    'caring_responsibilities', 'bereavement', 'long_term_condition', 'other')),
    PRIMARY KEY (referral_id, reason)
);
CREATE INDEX referral_reasons_reason ON referral_reasons (reason, referral_id);

-- A retried create returns what the first attempt returned; keys are scoped to the caller.
CREATE TABLE idempotency_keys (
    scope         TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status_code   INTEGER NOT NULL,
    location      TEXT,
    response_body TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Who touched which personal data, when, and with what outcome. Append-only.
CREATE TABLE audit_events (
    id            TEXT PRIMARY KEY NOT NULL,
    occurred_at   TIMESTAMP NOT NULL,
    actor_sub     TEXT NOT NULL,
    actor_role    TEXT NOT NULL,
    actor_org_id  TEXT,
    action        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT,
    -- For lists: the ids of every record shown, comma-separated, so each disclosure is traceable.
    resource_ids  TEXT,
    outcome       TEXT NOT NULL,
    request_id    TEXT NOT NULL
);
CREATE INDEX audit_events_resource ON audit_events (resource_type, resource_id, occurred_at);
CREATE INDEX audit_events_occurred ON audit_events (occurred_at);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
