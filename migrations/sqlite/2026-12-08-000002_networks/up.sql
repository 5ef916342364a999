-- Networks of organisations, such as the practices of a Primary Care Network: commissioners
-- read figures for a network whole, big enough to publish where a single practice's are not.
CREATE TABLE networks (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version    BIGINT NOT NULL
);
CREATE UNIQUE INDEX networks_name ON networks (lower(name));
CREATE INDEX networks_listed ON networks (created_at, id);

ALTER TABLE organisations ADD COLUMN network_id TEXT REFERENCES networks (id);
CREATE INDEX organisations_network ON organisations (network_id);
