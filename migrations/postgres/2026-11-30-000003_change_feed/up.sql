-- The change feed: each referral carries the position of its latest change. On PostgreSQL the
-- position is the writing transaction's id, and readers only go up to the oldest transaction
-- still running, so a change that commits late is never passed over (see dialect.rs).
ALTER TABLE referrals ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX referrals_feed ON referrals (change_seq, id);
CREATE INDEX referrals_org_feed ON referrals (referrer_org_id, change_seq, id);
