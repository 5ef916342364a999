-- GET /v1/referrals?limit=50&cursor=… deep in the data: as list_first, after the cursor's
-- position. Variables: org, deep_at, deep_id (the cursor's position), deep_ids (the page).
-- covers: SELECT "referrals"."id", "referrals"."person_id", "referrals"."status"
-- covers: SELECT "referral_reasons"."referral_id", "referral_reasons"."reason" FROM "referral_reasons" WHERE ("referral_reasons"."referral_id" = ANY($1))
-- covers: BEGIN
-- covers: COMMIT
-- covers: INSERT INTO "audit_events"
\set batch random(1, 3)
SELECT "referrals"."id", "referrals"."person_id", "referrals"."status", "referrals"."source", "referrals"."summary", "referrals"."referrer_org_id", "referrals"."external_reference", "referrals"."created_by", "referrals"."received_at", "referrals"."updated_at", "referrals"."version", "referrals"."status_reason", "referrals"."closure_reason", "referrals"."gp_record_code", "referrals"."assignee_id", "referrals"."first_contact_at", "referrals"."person_as_sent", "referrals"."change_seq", "referrals"."reference", "referrals"."introduced_by", "people"."possible_duplicate_of", "people"."possible_duplicate_reason" FROM ("referrals" INNER JOIN "people" ON ("referrals"."person_id" = "people"."id")) WHERE ((("people"."erased_at" IS NULL) AND ("referrals"."referrer_org_id" = :org)) AND (("referrals"."received_at" < :deep_at) OR (("referrals"."received_at" = :deep_at) AND ("referrals"."id" < :deep_id)))) ORDER BY "referrals"."received_at" DESC, "referrals"."id" DESC LIMIT 51;
SELECT "referral_reasons"."referral_id", "referral_reasons"."reason" FROM "referral_reasons" WHERE ("referral_reasons"."referral_id" = ANY(:deep_ids));
\if :batch = 1
BEGIN;
INSERT INTO "audit_events" ("id", "occurred_at", "actor_sub", "actor_role", "actor_org_id", "action", "resource_type", "resource_id", "resource_ids", "outcome", "request_id", "person_id", "referral_id") VALUES (gen_random_uuid()::text, now(), 'bench-gp', 'referrer', :org, 'referral.list', 'referral', DEFAULT, :deep_ids_text, 'success', gen_random_uuid()::text, DEFAULT, DEFAULT);
COMMIT;
\endif
