-- A measure recorded by mistake is marked entered in error (who, when, why) rather than
-- deleted: it then counts nowhere, and a new baseline may replace it. `version` is what
-- If-Match names.
ALTER TABLE outcomes ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE outcomes ADD COLUMN status TEXT NOT NULL DEFAULT 'recorded'
    CHECK (status IN ('recorded', 'entered_in_error'));
ALTER TABLE outcomes ADD COLUMN error_reason TEXT;
ALTER TABLE outcomes ADD COLUMN error_by TEXT;
ALTER TABLE outcomes ADD COLUMN error_at TIMESTAMP;
-- One baseline per instrument per referral, among the measures that count.
DROP INDEX outcomes_one_baseline;
CREATE UNIQUE INDEX outcomes_one_baseline ON outcomes (referral_id, instrument)
    WHERE timepoint = 'baseline' AND status = 'recorded';
