-- Progress notes on a plan's goals, added through a connection that shares the plan (by the
-- receiving organisation, or by staff for it). Only partners and staff write them.
CREATE TABLE goal_progress_notes (
    id            TEXT PRIMARY KEY,
    goal_id       TEXT NOT NULL REFERENCES goals (id),
    connection_id TEXT NOT NULL REFERENCES connections (id),
    text          TEXT NOT NULL,
    author_sub    TEXT NOT NULL,
    author_role   TEXT NOT NULL CHECK (author_role IN ('partner', 'coordinator', 'admin')),
    author_org_id TEXT,
    created_at    TIMESTAMP NOT NULL
);
CREATE INDEX goal_progress_notes_goal ON goal_progress_notes (goal_id, created_at, id);
CREATE INDEX goal_progress_notes_connection ON goal_progress_notes (connection_id, created_at, id);
