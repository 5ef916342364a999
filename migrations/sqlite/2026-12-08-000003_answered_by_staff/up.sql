-- A receiving organisation without a login (no partner user or system) cannot answer: staff
-- record its answers on its behalf, naming who gave them, and such a connection never expires
-- unanswered.
ALTER TABLE connections ADD COLUMN answered_by_staff BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE connections ADD COLUMN on_behalf_of TEXT;
