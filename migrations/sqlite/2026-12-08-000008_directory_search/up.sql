-- Directory search by eligibility (an age range, with the minimum age there already) and by
-- opening times (a weekly timetable); area search reads the postcode and area there already.
ALTER TABLE services ADD COLUMN max_age INTEGER CHECK (max_age BETWEEN 0 AND 120);

CREATE TABLE service_opening_hours (
    service_id TEXT NOT NULL REFERENCES services (id),
    day        TEXT NOT NULL CHECK (day IN ('monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday')),
    opens      TEXT NOT NULL,
    closes     TEXT NOT NULL,
    PRIMARY KEY (service_id, day, opens)
);
CREATE INDEX service_opening_hours_day ON service_opening_hours (day, opens);
