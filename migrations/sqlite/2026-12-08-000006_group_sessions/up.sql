-- Group sessions: recorded once, with their facilitators and the people booked on them (each
-- under their referral). Reports count a held session once, its length once per facilitator,
-- and each marked place per person.
CREATE TABLE group_sessions (
    id               TEXT PRIMARY KEY NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('peer_support', 'activity', 'course', 'drop_in', 'information')),
    mode             TEXT NOT NULL CHECK (mode IN ('face_to_face', 'phone', 'video', 'text')),
    title            TEXT NOT NULL,
    scheduled_at     TIMESTAMP NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('scheduled', 'held', 'cancelled')),
    duration_minutes INTEGER CHECK (duration_minutes BETWEEN 1 AND 480),
    created_by       TEXT NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    version          BIGINT NOT NULL
);
CREATE INDEX group_sessions_created ON group_sessions (created_at, id);
CREATE INDEX group_sessions_held ON group_sessions (status, scheduled_at);

CREATE TABLE group_session_facilitators (
    group_session_id TEXT NOT NULL REFERENCES group_sessions (id),
    user_id          TEXT NOT NULL REFERENCES users (id),
    position         INTEGER NOT NULL,
    PRIMARY KEY (group_session_id, user_id)
);

CREATE TABLE group_attendees (
    id               TEXT PRIMARY KEY NOT NULL,
    group_session_id TEXT NOT NULL REFERENCES group_sessions (id),
    referral_id      TEXT NOT NULL REFERENCES referrals (id),
    attendance       TEXT NOT NULL CHECK (attendance IN ('booked', 'attended', 'did_not_attend')),
    created_by       TEXT NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    version          BIGINT NOT NULL
);
CREATE UNIQUE INDEX group_attendees_place ON group_attendees (group_session_id, referral_id);
CREATE INDEX group_attendees_list ON group_attendees (group_session_id, created_at, id);
CREATE INDEX group_attendees_referral ON group_attendees (referral_id, created_at, id);
