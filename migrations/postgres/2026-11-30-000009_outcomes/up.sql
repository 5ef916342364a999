-- Outcome measures, scored by the server. SWEMWBS keeps its seven answers and scores (the
-- metric in hundredths, so sums and means are exact); ONS4 its four item scores. Reports
-- aggregate these columns in the database.
CREATE TABLE outcomes (
    id                TEXT PRIMARY KEY,
    referral_id       TEXT NOT NULL REFERENCES referrals (id),
    instrument        TEXT NOT NULL CHECK (instrument IN ('swemwbs', 'ons4')),
    timepoint         TEXT NOT NULL CHECK (timepoint IN ('baseline', 'review', 'exit')),
    recorded_at       TIMESTAMP NOT NULL,
    swemwbs_answers   TEXT,
    raw_score         INTEGER CHECK (raw_score BETWEEN 7 AND 35),
    metric_hundredths INTEGER CHECK (metric_hundredths BETWEEN 700 AND 3500),
    life_satisfaction INTEGER CHECK (life_satisfaction BETWEEN 0 AND 10),
    worthwhile        INTEGER CHECK (worthwhile BETWEEN 0 AND 10),
    happiness         INTEGER CHECK (happiness BETWEEN 0 AND 10),
    anxiety           INTEGER CHECK (anxiety BETWEEN 0 AND 10),
    scoring_version   TEXT NOT NULL,
    created_by        TEXT NOT NULL,
    created_at        TIMESTAMP NOT NULL
);
CREATE INDEX outcomes_referral ON outcomes (referral_id, recorded_at, id);
-- One baseline per instrument per referral.
CREATE UNIQUE INDEX outcomes_one_baseline ON outcomes (referral_id, instrument)
    WHERE timepoint = 'baseline';
