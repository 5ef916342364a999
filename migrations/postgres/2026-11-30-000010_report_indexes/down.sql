DROP INDEX outcomes_report;
DROP INDEX connections_report;
DROP INDEX sessions_report;
DROP INDEX referral_status_changes_decisions;
DROP INDEX referral_status_changes_report;
DROP INDEX referrals_first_contact;
DROP INDEX referrals_report;
