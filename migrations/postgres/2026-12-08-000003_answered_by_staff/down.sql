ALTER TABLE connections DROP COLUMN on_behalf_of;
ALTER TABLE connections DROP COLUMN answered_by_staff;
