-- GET /v1/reports/activity for one year as a commissioner: one checkout, the totals' state,
-- then the year's totals from month rows and the deltas not yet folded in; no audit row.
-- Variables: scope, first_day, last_day (days since 1970 of the year's first and last day).
-- covers: SELECT rebuilt_through FROM report_totals_state WHERE id =
-- covers: SELECT metric, key1, key2, CAST(SUM(n) AS BIGINT) AS n, CAST(SUM(total) AS BIGINT) AS total FROM
SELECT rebuilt_through FROM report_totals_state WHERE id = 1;
SELECT metric, key1, key2, CAST(SUM(n) AS BIGINT) AS n, CAST(SUM(total) AS BIGINT) AS total FROM ( SELECT metric, key1, key2, n, total FROM report_tallies WHERE ((scope = :scope AND day >= :first_day AND day <= :first_day - 1) OR (scope = 'month:' || :scope AND day >= :first_day AND day <= :last_day) OR (scope = :scope AND day >= :last_day + 1 AND day <= :last_day)) AND since_day < :first_day AND until_day > :last_day UNION ALL SELECT metric, key1, key2, n, total FROM report_tally_deltas WHERE scope = :scope AND day >= :first_day AND day <= :last_day AND since_day < :first_day AND until_day > :last_day ) AS window_rows GROUP BY metric, key1, key2 HAVING SUM(n) <> 0 OR SUM(total) <> 0;
