-- Writers no longer add to the report totals in their own transaction: that put rows every
-- write of a day, an organisation or a code had to update, and writers queued on them. Each
-- write now inserts its difference here (day rows only; never updated, so never contended),
-- and a background step on any instance moves them into `report_tallies` (adding month rows)
-- in one transaction. A report adds the rows not yet moved, so it stays exact.
CREATE TABLE report_tally_deltas (
    id        BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope     TEXT    NOT NULL,
    day       INTEGER NOT NULL,
    metric    TEXT    NOT NULL,
    since_day INTEGER NOT NULL,
    until_day INTEGER NOT NULL,
    key1      TEXT    NOT NULL,
    key2      TEXT    NOT NULL,
    n         BIGINT  NOT NULL,
    total     BIGINT  NOT NULL
);
CREATE INDEX report_tally_deltas_window ON report_tally_deltas (scope, day);

-- A rebuild of the totals runs beside live writes, a batch of people at a time, in id order.
-- While one runs, `rebuilt_through` is the last person it has counted ('' before the first):
-- writes for people up to it are counted as usual, later people are left for the rebuild to
-- read. NULL when no rebuild is under way.
CREATE TABLE report_totals_state (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    rebuilt_through TEXT
);
INSERT INTO report_totals_state (id, rebuilt_through) VALUES (1, NULL);
