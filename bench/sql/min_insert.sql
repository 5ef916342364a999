-- The least a create can be: one row, one statement, autocommit.
INSERT INTO bench_min (id, body) VALUES (gen_random_uuid(), '{"given_name":"Sam","family_name":"Jones"}');
