-- Who a user is at an external OpenID Connect provider: an administrator links the provider's
-- issuer and the subject it gives the person to one user. The unique index keeps each
-- (issuer, subject) pair on at most one user, whatever races the API check.
CREATE TABLE user_identities (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id),
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL
);
CREATE UNIQUE INDEX user_identities_issuer_subject ON user_identities (issuer, subject);
CREATE INDEX user_identities_user ON user_identities (user_id, created_at, id);
