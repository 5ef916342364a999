-- Community development work: time spent starting and supporting community groups (a
-- directory service, or a group named instead). About groups, never people.
CREATE TABLE community_work (
    id          TEXT PRIMARY KEY,
    service_id  TEXT REFERENCES services (id),
    group_name  TEXT,
    activity    TEXT NOT NULL CHECK (activity IN ('starting', 'supporting', 'volunteers', 'funding', 'networking', 'promotion')),
    minutes     INTEGER NOT NULL CHECK (minutes BETWEEN 1 AND 480),
    occurred_at TIMESTAMP NOT NULL,
    team_id     TEXT REFERENCES teams (id),
    notes       TEXT,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    CHECK ((service_id IS NULL) <> (group_name IS NULL))
);
CREATE INDEX community_work_created ON community_work (created_at, id);
CREATE INDEX community_work_occurred ON community_work (occurred_at);
