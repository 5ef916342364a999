-- POST /v1/referrals as a GP practice's referrer: one checkout (unchecked: it was used within
-- 2 s), then one transaction: the person's filing candidates (same NHS number or date of
-- birth) in one query, the person, referral, reasons (one statement) and first status row,
-- the feed position, the audit row (whom it concerns known, no look-up), and the report
-- deltas: the totals' shared lock, the rebuild position, the referral's facts in one query,
-- and the new person's event days (neither locked nor read: nobody else can see them yet).
-- Fresh ids each time (md5 of a random number, so one id serves several statements without
-- a round trip). Variables: org, scope, today (days since 1970).
-- covers: BEGIN
-- covers: COMMIT
-- covers: SELECT pg_advisory_xact_lock_shared(hashtextextended(
-- covers: SELECT rebuilt_through FROM report_totals_state WHERE id =
-- covers: SELECT "people"."id", "people"."given_name"
-- covers: INSERT INTO "people"
-- covers: SELECT pg_current_xact_id()::text::bigint AS position
-- covers: INSERT INTO "referrals"
-- covers: INSERT INTO referral_reasons (referral_id, reason) VALUES
-- covers: INSERT INTO "referral_status_changes"
-- covers: INSERT INTO "audit_events"
-- covers: WITH chosen (id) AS (VALUES ($1))
-- covers: INSERT INTO person_event_days
-- covers: INSERT INTO report_tally_deltas
\set r random(1, 9223372036854775806)
\set nhs random(1000000000, 3999999999)
\set dob random(0, 25000)

BEGIN;
SELECT pg_advisory_xact_lock_shared(hashtextextended('report totals', 0))::text AS locked;
SELECT rebuilt_through FROM report_totals_state WHERE id = 1;
SELECT "people"."id", "people"."given_name", "people"."family_name", "people"."date_of_birth", "people"."nhs_number", "people"."phone", "people"."email", "people"."postcode", "people"."address", "people"."preferred_contact", "people"."created_at", "people"."updated_at", "people"."version", "people"."possible_duplicate_of", "people"."merged_into", "people"."possible_duplicate_reason" FROM "people" WHERE (("people"."merged_into" IS NULL) AND (("people"."date_of_birth" = DATE '1940-01-01' + CAST(:dob AS integer)) OR ("people"."nhs_number" = :nhs))) ORDER BY "people"."created_at" ASC, "people"."id" ASC;
INSERT INTO "people" ("id", "given_name", "family_name", "date_of_birth", "nhs_number", "phone", "email", "postcode", "address", "preferred_contact", "created_at", "updated_at", "version", "possible_duplicate_of", "merged_into", "possible_duplicate_reason") VALUES (md5('p' || :r)::uuid::text, 'Sam', 'Jones-' || :r, DATE '1940-01-01' + CAST(:dob AS integer), :nhs, '01284 123456', DEFAULT, 'IP33 3ND', DEFAULT, 'phone', now(), now(), 1, DEFAULT, DEFAULT, DEFAULT);
SELECT pg_current_xact_id()::text::bigint AS position;
INSERT INTO "referrals" ("id", "person_id", "status", "source", "summary", "referrer_org_id", "external_reference", "created_by", "received_at", "updated_at", "version", "status_reason", "closure_reason", "gp_record_code", "assignee_id", "first_contact_at", "person_as_sent", "change_seq", "reference", "introduced_by") VALUES (md5('r' || :r)::uuid::text, md5('p' || :r)::uuid::text, 'received', 'gp_practice', 'Lives alone since bereavement.', :org, DEFAULT, 'bench-gp', now(), now(), 1, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, '{"given_name":"Sam","family_name":"Jones","date_of_birth":"1950-02-28","phone":"01284 123456","postcode":"IP33 3ND","preferred_contact":"phone"}', pg_current_xact_id()::text::bigint, md5('f' || :r), DEFAULT);
INSERT INTO referral_reasons (referral_id, reason) VALUES (md5('r' || :r)::uuid::text, 'loneliness'), (md5('r' || :r)::uuid::text, 'money_and_benefits');
INSERT INTO "referral_status_changes" ("id", "referral_id", "from_status", "to_status", "reason_code", "reason", "actor_sub", "actor_role", "changed_at") VALUES (gen_random_uuid()::text, md5('r' || :r)::uuid::text, DEFAULT, 'received', DEFAULT, DEFAULT, 'bench-gp', 'referrer', now());
INSERT INTO "audit_events" ("id", "occurred_at", "actor_sub", "actor_role", "actor_org_id", "action", "resource_type", "resource_id", "resource_ids", "outcome", "request_id", "person_id", "referral_id") VALUES (gen_random_uuid()::text, now(), 'bench-gp', 'referrer', :org, 'referral.create', 'referral', md5('r' || :r)::uuid::text, DEFAULT, 'success', gen_random_uuid()::text, md5('p' || :r)::uuid::text, md5('r' || :r)::uuid::text);
WITH chosen (id) AS (VALUES (md5('r' || :r)::uuid::text)) SELECT id AS referral_id, 'referral' AS kind, person_id AS t1, referrer_org_id AS t2, source AS t3, status AS t4, received_at AS at, first_contact_at AS at2, CAST(NULL AS INTEGER) AS v1, CAST(NULL AS INTEGER) AS v2, CAST(NULL AS INTEGER) AS v3, CAST(NULL AS INTEGER) AS v4, CAST(NULL AS INTEGER) AS v5 FROM referrals WHERE id IN (SELECT id FROM chosen) UNION ALL SELECT referral_id, 'reason', reason, CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS TIMESTAMP), CAST(NULL AS TIMESTAMP), CAST(NULL AS INTEGER), CAST(NULL AS INTEGER), CAST(NULL AS INTEGER), CAST(NULL AS INTEGER), CAST(NULL AS INTEGER) FROM referral_reasons WHERE referral_id IN (SELECT id FROM chosen) UNION ALL SELECT referral_id, 'change', to_status, reason_code, CAST(NULL AS TEXT), CAST(NULL AS TEXT), changed_at, CAST(NULL AS TIMESTAMP), CAST(NULL AS INTEGER), CAST(NULL AS INTEGER), CAST(NULL AS INTEGER), CAST(NULL AS INTEGER), CAST(NULL AS INTEGER) FROM referral_status_changes WHERE referral_id IN (SELECT id FROM chosen) AND to_status IN ('accepted', 'declined', 'closed') UNION ALL SELECT referral_id, 'session', kind, mode, status, CAST(NULL AS TEXT), scheduled_at, CAST(NULL AS TIMESTAMP), duration_minutes, CAST(NULL AS INTEGER), CAST(NULL AS INTEGER), CAST(NULL AS INTEGER), CAST(NULL AS INTEGER) FROM sessions WHERE referral_id IN (SELECT id FROM chosen) UNION ALL SELECT referral_id, 'connection', organisation_id, status, outcome, CAST(NULL AS TEXT), created_at, CAST(NULL AS TIMESTAMP), CAST(NULL AS INTEGER), CAST(NULL AS INTEGER), CAST(NULL AS INTEGER), CAST(NULL AS INTEGER), CAST(NULL AS INTEGER) FROM connections WHERE referral_id IN (SELECT id FROM chosen) UNION ALL SELECT referral_id, 'measure', id, instrument, timepoint, CAST(NULL AS TEXT), recorded_at, CAST(NULL AS TIMESTAMP), metric_hundredths, life_satisfaction, worthwhile, happiness, anxiety FROM outcomes WHERE referral_id IN (SELECT id FROM chosen) AND status = 'recorded';
INSERT INTO person_event_days (person_id, metric, scope, day, n) VALUES (md5('p' || :r)::uuid::text, 'people_referred', :scope, :today, 1), (md5('p' || :r)::uuid::text, 'people_referred', 'org:' || :org, :today, 1) ON CONFLICT (person_id, metric, scope, day) DO UPDATE SET n = person_event_days.n + excluded.n;
INSERT INTO report_tally_deltas (scope, day, metric, since_day, until_day, key1, key2, n, total) VALUES (:scope, :today, 'received', 0, 2147483647, 'gp_practice', '', 1, 0), (:scope, :today, 'reason', 0, 2147483647, 'loneliness', '', 1, 0), (:scope, :today, 'reason', 0, 2147483647, 'money_and_benefits', '', 1, 0), (:scope, :today, 'referrer_org', 0, 2147483647, :org, '', 1, 0), (:scope, :today, 'people_referred', 0, 2147483647, '', '', 1, 0), ('month:' || :scope, :today, 'received', 0, 2147483647, 'gp_practice', '', 1, 0), ('month:' || :scope, :today, 'reason', 0, 2147483647, 'loneliness', '', 1, 0), ('month:' || :scope, :today, 'reason', 0, 2147483647, 'money_and_benefits', '', 1, 0), ('month:' || :scope, :today, 'referrer_org', 0, 2147483647, :org, '', 1, 0), ('month:' || :scope, :today, 'people_referred', 0, 2147483647, '', '', 1, 0);
COMMIT;
