-- Sessions: contacts between a link worker and the person, under a referral.
CREATE TABLE sessions (
    id               TEXT PRIMARY KEY,
    referral_id      TEXT NOT NULL REFERENCES referrals (id),
    kind             TEXT NOT NULL CHECK (kind IN ('coaching', 'conversation', 'group')),
    mode             TEXT NOT NULL CHECK (mode IN ('face_to_face', 'phone', 'video', 'text')),
    scheduled_at     TIMESTAMP NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('scheduled', 'attended', 'did_not_attend',
                         'cancelled_by_person', 'cancelled_by_service')),
    duration_minutes INTEGER CHECK (duration_minutes BETWEEN 1 AND 480),
    notes            TEXT,
    created_by       TEXT NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    version          BIGINT NOT NULL
);
CREATE INDEX sessions_referral ON sessions (referral_id, created_at, id);
CREATE INDEX sessions_scheduled ON sessions (scheduled_at);
