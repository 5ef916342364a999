-- The least a read can be: one row by primary key.
SELECT id, body, created_at FROM bench_min WHERE id = :id;
