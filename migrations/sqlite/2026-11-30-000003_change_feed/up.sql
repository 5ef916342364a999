-- The change feed: each referral carries the position of its latest change. SQLite has one
-- writer at a time, so a counter bumped inside each writing transaction commits in order.
ALTER TABLE referrals ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX referrals_feed ON referrals (change_seq, id);
CREATE INDEX referrals_org_feed ON referrals (referrer_org_id, change_seq, id);
CREATE TABLE feed_clock (
    id   INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    last BIGINT NOT NULL
);
INSERT INTO feed_clock (id, last) VALUES (1, 0);
