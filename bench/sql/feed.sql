-- GET /v1/connections?updated_since=…&limit=50 as the partner: one checkout; the safe feed
-- position (the oldest transaction still open), the page, the people it shares, then the audit
-- row in a transaction. Variables: partner_org, feed_referrals (the page's referral ids).
-- covers: SELECT COALESCE( (SELECT min(x::text::bigint) FROM pg_snapshot_xip
-- covers: SELECT "connections"."id", "connections"."referral_id"
-- covers: SELECT "referrals"."id", "people"."id", "people"."given_name"
-- covers: BEGIN
-- covers: COMMIT
-- covers: INSERT INTO "audit_events"
\set batch random(1, 3)
SELECT COALESCE( (SELECT min(x::text::bigint) FROM pg_snapshot_xip(snap.s) AS x WHERE x::text::bigint % 4294967296 IN ( SELECT backend_xid::text::bigint FROM pg_stat_activity WHERE datname = current_database() AND backend_xid IS NOT NULL)), pg_snapshot_xmax(snap.s)::text::bigint) AS position FROM (SELECT pg_current_snapshot() AS s) AS snap;
SELECT "connections"."id", "connections"."referral_id", "connections"."organisation_id", "connections"."service_id", "connections"."need", "connections"."note_for_partner", "connections"."shared_fields", "connections"."status", "connections"."reason_code", "connections"."reason", "connections"."outcome", "connections"."last_note_at", "connections"."created_by", "connections"."created_at", "connections"."updated_at", "connections"."version", "connections"."change_seq", "connections"."frozen_details", "connections"."change_seq" FROM "connections" WHERE (((( NOT (("connections"."referral_id" = ANY(SELECT "referrals"."id" FROM ("referrals" INNER JOIN "people" ON ("referrals"."person_id" = "people"."id")) WHERE ("people"."erased_at" IS NOT NULL)))) AND ("connections"."organisation_id" = :partner_org)) AND ("connections"."status" != 'pending')) AND ("connections"."change_seq" < 9223372036854775807)) AND ("connections"."updated_at" >= '2000-01-01')) ORDER BY "connections"."change_seq" ASC, "connections"."id" ASC LIMIT 51;
SELECT "referrals"."id", "people"."id", "people"."given_name", "people"."family_name", "people"."date_of_birth", "people"."nhs_number", "people"."phone", "people"."email", "people"."postcode", "people"."address", "people"."preferred_contact", "people"."created_at", "people"."updated_at", "people"."version", "people"."possible_duplicate_of", "people"."merged_into", "people"."possible_duplicate_reason" FROM ("referrals" INNER JOIN "people" ON ("referrals"."person_id" = "people"."id")) WHERE ("referrals"."id" = ANY(:feed_referrals));
\if :batch = 1
BEGIN;
INSERT INTO "audit_events" ("id", "occurred_at", "actor_sub", "actor_role", "actor_org_id", "action", "resource_type", "resource_id", "resource_ids", "outcome", "request_id", "person_id", "referral_id") VALUES (gen_random_uuid()::text, now(), 'bench-partner', 'partner', :partner_org, 'connection.list', 'connection', DEFAULT, :feed_ids_text, 'success', gen_random_uuid()::text, DEFAULT, DEFAULT);
COMMIT;
\endif
