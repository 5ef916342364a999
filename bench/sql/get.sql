-- GET /v1/referrals/{id} as its referrer: the access gate's look-up (whom the record
-- concerns, and whether they were erased), the read, then the audit row, handed to the
-- group-committing writer: one multi-row INSERT and commit for the reads that queued
-- meanwhile (about three at 32 clients; one in three runs of this script commits a row, the
-- others' rows ride in it). Checkouts are unchecked under load (used within 2 s).
-- Variables from the harness: org, referral, person.
-- covers: SELECT "referrals"."id", "referrals"."person_id", "people"."erased_at" FROM
-- covers: SELECT "referrals"."id", "referrals"."person_id", "referrals"."status"
-- covers: SELECT "referral_reasons"."referral_id", "referral_reasons"."reason" FROM "referral_reasons" WHERE ("referral_reasons"."referral_id" = $1)
-- covers: BEGIN
-- covers: COMMIT
-- covers: INSERT INTO "audit_events"
\set batch random(1, 3)
SELECT "referrals"."id", "referrals"."person_id", "people"."erased_at" FROM ("referrals" INNER JOIN "people" ON ("people"."id" = "referrals"."person_id")) WHERE ("referrals"."id" = :referral) LIMIT 1;
SELECT "referrals"."id", "referrals"."person_id", "referrals"."status", "referrals"."source", "referrals"."summary", "referrals"."referrer_org_id", "referrals"."external_reference", "referrals"."created_by", "referrals"."received_at", "referrals"."updated_at", "referrals"."version", "referrals"."status_reason", "referrals"."closure_reason", "referrals"."gp_record_code", "referrals"."assignee_id", "referrals"."first_contact_at", "referrals"."person_as_sent", "referrals"."change_seq", "referrals"."reference", "referrals"."introduced_by", "people"."possible_duplicate_of", "people"."possible_duplicate_reason" FROM ("referrals" INNER JOIN "people" ON ("referrals"."person_id" = "people"."id")) WHERE (("referrals"."id" = :referral) AND ("referrals"."referrer_org_id" = :org));
SELECT "referral_reasons"."referral_id", "referral_reasons"."reason" FROM "referral_reasons" WHERE ("referral_reasons"."referral_id" = :referral);
\if :batch = 1
BEGIN;
INSERT INTO "audit_events" ("id", "occurred_at", "actor_sub", "actor_role", "actor_org_id", "action", "resource_type", "resource_id", "resource_ids", "outcome", "request_id", "person_id", "referral_id") VALUES (gen_random_uuid()::text, now(), 'bench-gp', 'referrer', :org, 'referral.read', 'referral', :referral, NULL, 'success', gen_random_uuid()::text, :person, :referral), (gen_random_uuid()::text, now(), 'bench-gp', 'referrer', :org, 'referral.read', 'referral', :referral, NULL, 'success', gen_random_uuid()::text, :person, :referral), (gen_random_uuid()::text, now(), 'bench-gp', 'referrer', :org, 'referral.read', 'referral', :referral, NULL, 'success', gen_random_uuid()::text, :person, :referral);
COMMIT;
\endif
