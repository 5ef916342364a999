-- Systems that call the API on their own (OAuth 2 client credentials): a GP system at a
-- practice, a partner's case system. Each authenticates by a secret (stored as an argon2 hash,
-- never the secret) or by assertions signed with a key from its registered JWKS; exactly one.
CREATE TABLE api_clients (
    id          TEXT PRIMARY KEY NOT NULL,
    client_id   TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('coordinator', 'referrer', 'partner', 'commissioner')),
    org_id      TEXT REFERENCES organisations (id),
    secret_hash TEXT,
    jwks        TEXT,
    created_at  TIMESTAMP NOT NULL,
    created_by  TEXT NOT NULL,
    revoked_at  TIMESTAMP,
    revoked_by  TEXT,
    version     BIGINT NOT NULL,
    CHECK ((secret_hash IS NULL) <> (jwks IS NULL))
);
CREATE INDEX api_clients_created ON api_clients (created_at, id);

-- Each signed assertion is accepted once (RFC 7523 §3: `jti`), on every instance: its id is
-- kept here until it expires.
CREATE TABLE client_assertions (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertions_expiry ON client_assertions (expires_at);
