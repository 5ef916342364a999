DROP TABLE goal_status_changes;
DROP TABLE goals;
DROP TABLE plans;
