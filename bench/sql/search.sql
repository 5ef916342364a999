-- GET /v1/directory/services?need=money_and_benefits&q=seed: one checkout, two reads, no
-- audit. Variables: service_ids (the matching services).
-- covers: SELECT "services"."id"
-- covers: SELECT "service_needs"."service_id", "service_needs"."need" FROM "service_needs" WHERE ("service_needs"."service_id" = ANY($1))
SELECT "services"."id", "services"."name", "services"."description", "services"."organisation_id", "services"."area", "services"."postcode", "services"."phone", "services"."email", "services"."website", "services"."accepts_referrals", "services"."status", "services"."capacity", "services"."min_age", "services"."search_text", "services"."created_at", "services"."updated_at", "services"."version" FROM "services" WHERE (("services"."id" = ANY(SELECT "service_needs"."service_id" FROM "service_needs" WHERE ("service_needs"."need" = 'money_and_benefits'))) AND ("services"."search_text" LIKE '%seed%' ESCAPE '\')) ORDER BY "services"."created_at" ASC, "services"."id" ASC LIMIT 51;
SELECT "service_needs"."service_id", "service_needs"."need" FROM "service_needs" WHERE ("service_needs"."service_id" = ANY(:service_ids));
