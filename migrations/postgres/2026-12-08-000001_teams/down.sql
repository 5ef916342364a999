DROP TABLE referral_team_moves;
DROP INDEX referrals_team;
ALTER TABLE referrals DROP COLUMN team_id;
DROP TABLE team_members;
DROP TABLE teams;
