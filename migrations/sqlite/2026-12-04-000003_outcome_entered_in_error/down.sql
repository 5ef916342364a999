-- Measures entered in error go with the columns that said so (the old index allows one
-- baseline, whatever its state).
DROP INDEX outcomes_one_baseline;
DELETE FROM outcomes WHERE status = 'entered_in_error';
ALTER TABLE outcomes DROP COLUMN error_at;
ALTER TABLE outcomes DROP COLUMN error_by;
ALTER TABLE outcomes DROP COLUMN error_reason;
ALTER TABLE outcomes DROP COLUMN status;
ALTER TABLE outcomes DROP COLUMN version;
CREATE UNIQUE INDEX outcomes_one_baseline ON outcomes (referral_id, instrument)
    WHERE timepoint = 'baseline';
