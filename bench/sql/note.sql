-- POST /v1/connections/{id}/notes as the partner: one checkout for the access gate's look-up
-- (whom the connection concerns, erased or not), then one transaction: the look-up again
-- under the referral's lock, the person's erasure, read the connection, add the note, bump the
-- connection's version and feed position, then the audit row, whose look-up tries the
-- connections and then the notes under them. Variables: partner_org, connection,
-- conn_referral, conn_person.
-- covers: SELECT "referrals"."id", "referrals"."person_id", "people"."erased_at" FROM
-- covers: SELECT "people"."erased_at" FROM "people"
-- covers: BEGIN
-- covers: COMMIT
-- covers: SELECT id FROM referrals WHERE id = $1 FOR NO KEY UPDATE
-- covers: SELECT "connections"."id", "connections"."referral_id"
-- covers: INSERT INTO "connection_notes"
-- covers: SELECT pg_current_xact_id()::text::bigint AS position
-- covers: UPDATE "connections" SET "version" = ("connections"."version" + $1)
-- covers: INSERT INTO "audit_events"
\set note random(1, 9223372036854775806)
SELECT "referrals"."id", "referrals"."person_id", "people"."erased_at" FROM (("connections" INNER JOIN "referrals" ON ("referrals"."id" = "connections"."referral_id")) INNER JOIN "people" ON ("people"."id" = "referrals"."person_id")) WHERE ("connections"."id" = :connection) LIMIT 1;
BEGIN;
SELECT "referrals"."id", "referrals"."person_id", "people"."erased_at" FROM (("connections" INNER JOIN "referrals" ON ("referrals"."id" = "connections"."referral_id")) INNER JOIN "people" ON ("people"."id" = "referrals"."person_id")) WHERE ("connections"."id" = :connection) LIMIT 1;
SELECT id FROM referrals WHERE id = :conn_referral FOR NO KEY UPDATE;
SELECT "people"."erased_at" FROM "people" WHERE ("people"."id" = :conn_person) LIMIT 1;
SELECT "connections"."id", "connections"."referral_id", "connections"."organisation_id", "connections"."service_id", "connections"."need", "connections"."note_for_partner", "connections"."shared_fields", "connections"."status", "connections"."reason_code", "connections"."reason", "connections"."outcome", "connections"."last_note_at", "connections"."created_by", "connections"."created_at", "connections"."updated_at", "connections"."version", "connections"."change_seq", "connections"."frozen_details" FROM "connections" WHERE ((( NOT (("connections"."referral_id" = ANY(SELECT "referrals"."id" FROM ("referrals" INNER JOIN "people" ON ("referrals"."person_id" = "people"."id")) WHERE ("people"."erased_at" IS NOT NULL)))) AND ("connections"."organisation_id" = :partner_org)) AND ("connections"."status" != 'pending')) AND ("connections"."id" = :connection)) LIMIT 1;
INSERT INTO "connection_notes" ("id", "connection_id", "text", "author_sub", "author_role", "author_org_id", "created_at") VALUES (md5('n' || :note)::uuid::text, :connection, 'Called; booked for Tuesday.', 'bench-partner', 'partner', :partner_org, now());
SELECT pg_current_xact_id()::text::bigint AS position;
UPDATE "connections" SET "version" = ("connections"."version" + 1), "updated_at" = now(), "last_note_at" = now(), "change_seq" = pg_current_xact_id()::text::bigint WHERE ("connections"."id" = :connection);
SELECT "referrals"."id", "referrals"."person_id", "people"."erased_at" FROM (("connections" INNER JOIN "referrals" ON ("referrals"."id" = "connections"."referral_id")) INNER JOIN "people" ON ("people"."id" = "referrals"."person_id")) WHERE ("connections"."id" = md5('n' || :note)::uuid::text) LIMIT 1;
SELECT "referrals"."id", "referrals"."person_id", "people"."erased_at" FROM ((("connection_notes" INNER JOIN "connections" ON ("connections"."id" = "connection_notes"."connection_id")) INNER JOIN "referrals" ON ("referrals"."id" = "connections"."referral_id")) INNER JOIN "people" ON ("people"."id" = "referrals"."person_id")) WHERE ("connection_notes"."id" = md5('n' || :note)::uuid::text) LIMIT 1;
INSERT INTO "audit_events" ("id", "occurred_at", "actor_sub", "actor_role", "actor_org_id", "action", "resource_type", "resource_id", "resource_ids", "outcome", "request_id", "person_id", "referral_id") VALUES (gen_random_uuid()::text, now(), 'bench-partner', 'partner', :partner_org, 'connection.note', 'connection', :connection, DEFAULT, 'success', gen_random_uuid()::text, :conn_person, :conn_referral);
COMMIT;
