DROP TABLE feed_clock;
DROP INDEX referrals_org_feed;
DROP INDEX referrals_feed;
ALTER TABLE referrals DROP COLUMN change_seq;
