DROP TABLE connection_notes;
DROP TABLE connections;
