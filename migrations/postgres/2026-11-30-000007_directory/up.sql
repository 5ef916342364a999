-- The directory of services people are connected or signposted to.
CREATE TABLE services (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    description       TEXT NOT NULL,
    organisation_id   TEXT REFERENCES organisations (id),
    area              TEXT,
    postcode          TEXT,
    phone             TEXT,
    email             TEXT,
    website           TEXT,
    accepts_referrals BOOLEAN NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('active', 'inactive', 'temporarily_closed')),
    capacity          TEXT NOT NULL CHECK (capacity IN ('available', 'waitlist', 'full')),
    min_age           INTEGER CHECK (min_age BETWEEN 0 AND 120),
    -- Name and description in lower case, for case-insensitive search on both backends.
    search_text       TEXT NOT NULL,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    version           BIGINT NOT NULL
);
CREATE INDEX services_listed ON services (created_at, id);

-- The needs (reason codes) each service helps with.
CREATE TABLE service_needs (
    service_id TEXT NOT NULL REFERENCES services (id),
    need       TEXT NOT NULL,
    PRIMARY KEY (service_id, need)
);
CREATE INDEX service_needs_need ON service_needs (need, service_id);
