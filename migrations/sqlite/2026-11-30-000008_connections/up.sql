-- Connections: onward referrals to partner organisations and directory services, and the
-- notes the link worker and the partner exchange about each.
CREATE TABLE connections (
    id               TEXT PRIMARY KEY NOT NULL,
    referral_id      TEXT NOT NULL REFERENCES referrals (id),
    organisation_id  TEXT REFERENCES organisations (id),
    service_id       TEXT REFERENCES services (id),
    need             TEXT NOT NULL,
    note_for_partner TEXT,
    -- The person's details they agreed to share: codes separated by commas.
    shared_fields    TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('requested', 'accepted', 'rejected',
                         'cancelled', 'expired', 'in_progress', 'on_hold', 'completed', 'failed',
                         'signposted')),
    reason_code      TEXT,
    reason           TEXT,
    outcome          TEXT,
    last_note_at     TIMESTAMP,
    created_by       TEXT NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    version          BIGINT NOT NULL,
    -- The change-feed position of the latest change (see dialect::change_position).
    change_seq       BIGINT NOT NULL
);
CREATE INDEX connections_listed ON connections (created_at, id);
CREATE INDEX connections_referral ON connections (referral_id, created_at, id);
CREATE INDEX connections_organisation ON connections (organisation_id, created_at, id);
CREATE INDEX connections_feed ON connections (change_seq, id);
CREATE INDEX connections_organisation_feed ON connections (organisation_id, change_seq, id);
CREATE INDEX connections_due ON connections (status, created_at);

CREATE TABLE connection_notes (
    id            TEXT PRIMARY KEY NOT NULL,
    connection_id TEXT NOT NULL REFERENCES connections (id),
    text          TEXT NOT NULL,
    author_sub    TEXT NOT NULL,
    author_role   TEXT NOT NULL,
    author_org_id TEXT,
    created_at    TIMESTAMP NOT NULL
);
CREATE INDEX connection_notes_connection ON connection_notes (connection_id, created_at, id);
