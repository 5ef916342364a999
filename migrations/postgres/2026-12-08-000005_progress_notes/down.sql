DROP TABLE goal_progress_notes;
