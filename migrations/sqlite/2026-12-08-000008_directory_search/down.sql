DROP TABLE service_opening_hours;
ALTER TABLE services DROP COLUMN max_age;
