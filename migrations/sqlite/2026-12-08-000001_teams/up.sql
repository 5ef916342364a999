-- Teams within the service (place-based teams, for instance): coordinators belong to one or
-- more, and a referral is owned by one. A move between teams is kept as a history of its own,
-- beside the changes of status.
CREATE TABLE teams (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    area       TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version    BIGINT NOT NULL
);
-- Names are unique ignoring case, whatever races the API's check.
CREATE UNIQUE INDEX teams_name ON teams (lower(name));
CREATE INDEX teams_listed ON teams (created_at, id);

CREATE TABLE team_members (
    team_id  TEXT NOT NULL REFERENCES teams (id),
    user_id  TEXT NOT NULL REFERENCES users (id),
    added_at TIMESTAMP NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id, team_id);
CREATE INDEX team_members_listed ON team_members (team_id, added_at, user_id);

ALTER TABLE referrals ADD COLUMN team_id TEXT REFERENCES teams (id);
CREATE INDEX referrals_team ON referrals (team_id, received_at, id);

CREATE TABLE referral_team_moves (
    id           TEXT PRIMARY KEY NOT NULL,
    referral_id  TEXT NOT NULL REFERENCES referrals (id) ON DELETE CASCADE,
    from_team_id TEXT REFERENCES teams (id),
    to_team_id   TEXT NOT NULL REFERENCES teams (id),
    -- The referral's status at the move, which the move leaves as it was.
    status       TEXT NOT NULL,
    reason       TEXT,
    actor_sub    TEXT NOT NULL,
    actor_role   TEXT NOT NULL,
    moved_at     TIMESTAMP NOT NULL
);
CREATE INDEX referral_team_moves_referral ON referral_team_moves (referral_id, moved_at, id);
