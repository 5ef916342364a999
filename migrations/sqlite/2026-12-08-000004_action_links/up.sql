-- One-time action links: a receiving organisation without a login reads and answers one
-- connection through a link staff issue. The token is never stored: it is the id, signed.
CREATE TABLE connection_action_links (
    id            TEXT PRIMARY KEY NOT NULL,
    connection_id TEXT NOT NULL REFERENCES connections (id),
    created_by    TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    expires_at    TIMESTAMP NOT NULL,
    used_at       TIMESTAMP
);
CREATE INDEX connection_action_links_connection ON connection_action_links (connection_id);
