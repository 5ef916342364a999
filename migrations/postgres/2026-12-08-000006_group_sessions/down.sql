DROP TABLE group_attendees;
DROP TABLE group_session_facilitators;
DROP TABLE group_sessions;
