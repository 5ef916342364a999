DROP TABLE report_totals_state;
DROP TABLE report_tally_deltas;
