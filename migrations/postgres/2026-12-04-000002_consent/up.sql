-- What a final connection showed its receiving organisation: a JSON object from each shared
-- field's code to its value, kept when the connection became final so no later correction of
-- the person's record reaches the partner.
ALTER TABLE connections ADD COLUMN frozen_details TEXT;
-- Connections already final keep the record as it stands now: the nearest to what they showed.
UPDATE connections c SET frozen_details = (
    SELECT coalesce(json_object_agg(f.field, CASE f.field
        WHEN 'given_name' THEN p.given_name
        WHEN 'family_name' THEN p.family_name
        WHEN 'date_of_birth' THEN to_char(p.date_of_birth, 'YYYY-MM-DD')
        WHEN 'nhs_number' THEN p.nhs_number
        WHEN 'phone' THEN p.phone
        WHEN 'email' THEN p.email
        WHEN 'postcode' THEN p.postcode
        WHEN 'address' THEN p.address
        WHEN 'preferred_contact' THEN p.preferred_contact
    END), '{}'::json)::text
    FROM unnest(string_to_array(c.shared_fields, ',')) AS f (field),
         referrals r JOIN people p ON p.id = r.person_id
    WHERE r.id = c.referral_id AND f.field <> ''
)
WHERE c.status IN ('rejected', 'cancelled', 'expired', 'completed', 'failed', 'signposted');
-- Each move takes its own reason codes now; `got_help` was never a reason to move, so one
-- given as such is kept as the words of the reason.
UPDATE connections SET reason = coalesce(reason, reason_code), reason_code = NULL
WHERE reason_code NOT IN ('not_eligible', 'no_capacity', 'could_not_contact',
    'no_longer_interested', 'services_no_longer_needed', 'referred_elsewhere',
    'consent_withdrawn', 'person_unavailable', 'other');

-- The person's consent, act by act: given or withdrawn, for a scope, by whom and when.
CREATE TABLE consent_records (
    id          TEXT PRIMARY KEY,
    referral_id TEXT NOT NULL REFERENCES referrals (id),
    scope       TEXT NOT NULL CHECK (scope IN ('sharing_with_partners')),
    status      TEXT NOT NULL CHECK (status IN ('given', 'withdrawn')),
    reason      TEXT,
    actor_sub   TEXT NOT NULL,
    actor_role  TEXT NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);
CREATE INDEX consent_records_referral ON consent_records (referral_id, scope, recorded_at, id);
