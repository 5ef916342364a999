#!/usr/bin/env bash
# `make bench`: every scenario on PostgreSQL and SQLite at concurrency 1, 8 and 32 with wrk
# against the release binary on a freshly seeded database, the SQL ceiling (pgbench replays
# of bench/sql/), and the FastAPI + psycopg baseline. See bench/harness.py and
# docs/benchmarks.md. Settings (environment):
#   LINKWELL_BIN       the binary to measure (default: this checkout's release build)
#   BENCH_REFERRALS    seeded referrals (100000)     BENCH_SECONDS      per run (5)
#   BENCH_CONCURRENCY  "1 8 32"                      BENCH_BACKENDS     "postgres sqlite"
#   BENCH_SCENARIOS    a subset, e.g. "create get"   BENCH_BASELINE     0 to skip FastAPI
# PostgreSQL: the local server (postgres@127.0.0.1:5432, pg_stat_statements preloaded); each
# run makes its own databases and drops them.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in wrk pgbench psql python3; do
  command -v "$tool" >/dev/null || { echo "bench needs $tool" >&2; exit 1; }
done
target_dir=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
# LINKWELL_BIN measures another build (e.g. the previous release) with the same load.
if [ -z "${LINKWELL_BIN:-}" ]; then cargo build --release -q -p linkwell-api; fi
export LINKWELL_BIN=${LINKWELL_BIN:-$target_dir/release/linkwell}
export BENCH_TARGET_DIR=$target_dir
exec python3 bench/harness.py "$0 $*"
