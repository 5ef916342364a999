-- Wellbeing plans (one per referral), their goals, and every change of a goal's status.
CREATE TABLE plans (
    referral_id  TEXT PRIMARY KEY NOT NULL REFERENCES referrals (id),
    what_matters TEXT NOT NULL,
    strengths    TEXT,
    agreed_at    TIMESTAMP,
    created_by   TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    version      BIGINT NOT NULL
);

CREATE TABLE goals (
    id          TEXT PRIMARY KEY NOT NULL,
    referral_id TEXT NOT NULL REFERENCES referrals (id),
    description TEXT NOT NULL,
    target_date DATE,
    status      TEXT NOT NULL CHECK (status IN ('proposed', 'active', 'achieved', 'not_achieved', 'dropped')),
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    version     BIGINT NOT NULL
);
CREATE INDEX goals_referral ON goals (referral_id, created_at, id);

CREATE TABLE goal_status_changes (
    id          TEXT PRIMARY KEY NOT NULL,
    goal_id     TEXT NOT NULL REFERENCES goals (id),
    from_status TEXT,
    to_status   TEXT NOT NULL,
    actor_sub   TEXT NOT NULL,
    actor_role  TEXT NOT NULL,
    changed_at  TIMESTAMP NOT NULL
);
CREATE INDEX goal_status_changes_goal ON goal_status_changes (goal_id, changed_at, id);
