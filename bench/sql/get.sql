-- GET /v1/referrals/{id} as its referrer: two pool checkouts (each validated with SELECT 1);
-- the read outside a transaction, then the audit row in its own. Variables from the harness:
-- org, referral, person.
-- covers: SELECT $1
-- covers: SELECT "referrals"."id", "referrals"."person_id", "referrals"."status"
-- covers: SELECT "referral_reasons"."referral_id", "referral_reasons"."reason" FROM "referral_reasons" WHERE ("referral_reasons"."referral_id" = ANY($1))
-- covers: SELECT "people"."erased_at" FROM "people" WHERE ("people"."id" = $1) LIMIT $2
-- covers: SELECT "referrals"."id" FROM "referrals" WHERE ("referrals"."id" = $1) LIMIT $2
-- covers: SELECT "referrals"."person_id" FROM "referrals" WHERE ("referrals"."id" = $1) LIMIT $2
-- covers: BEGIN
-- covers: COMMIT
-- covers: INSERT INTO "audit_events"
SELECT 1;
SELECT "referrals"."id" FROM "referrals" WHERE ("referrals"."id" = :referral) LIMIT 1;
SELECT "referrals"."person_id" FROM "referrals" WHERE ("referrals"."id" = :referral) LIMIT 1;
SELECT "people"."erased_at" FROM "people" WHERE ("people"."id" = :person) LIMIT 1;
SELECT "referrals"."id", "referrals"."person_id", "referrals"."status", "referrals"."source", "referrals"."summary", "referrals"."referrer_org_id", "referrals"."external_reference", "referrals"."created_by", "referrals"."received_at", "referrals"."updated_at", "referrals"."version", "referrals"."status_reason", "referrals"."closure_reason", "referrals"."gp_record_code", "referrals"."assignee_id", "referrals"."first_contact_at", "referrals"."person_as_sent", "referrals"."change_seq", "referrals"."reference", "referrals"."introduced_by", "people"."possible_duplicate_of", "people"."possible_duplicate_reason" FROM ("referrals" INNER JOIN "people" ON ("referrals"."person_id" = "people"."id")) WHERE (("referrals"."id" = :referral) AND ("referrals"."referrer_org_id" = :org));
SELECT "referral_reasons"."referral_id", "referral_reasons"."reason" FROM "referral_reasons" WHERE ("referral_reasons"."referral_id" = ANY(:referral_array));
SELECT 1;
BEGIN;
SELECT "referrals"."id" FROM "referrals" WHERE ("referrals"."id" = :referral) LIMIT 1;
SELECT "referrals"."person_id" FROM "referrals" WHERE ("referrals"."id" = :referral) LIMIT 1;
INSERT INTO "audit_events" ("id", "occurred_at", "actor_sub", "actor_role", "actor_org_id", "action", "resource_type", "resource_id", "resource_ids", "outcome", "request_id", "person_id", "referral_id") VALUES (gen_random_uuid()::text, now(), 'bench-gp', 'referrer', :org, 'referral.read', 'referral', :referral, DEFAULT, 'success', gen_random_uuid()::text, :person, :referral);
COMMIT;
