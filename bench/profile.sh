#!/usr/bin/env bash
# `make profile`: the release binary with debug symbols under the create load (32 clients) on
# a seeded PostgreSQL database, recorded with `perf record -e cpu-clock --call-graph dwarf`
# (the VM has no hardware counters). Writes target/bench/create-flame.svg (inferno) and
# target/bench/create-profile.txt (top 30 frames, and the CPU of linkwell vs PostgreSQL).
# LINKWELL_BIN profiles a given binary instead of building one; BENCH_REFERRALS and
# BENCH_SECONDS as for bench/run.sh (defaults here: 100000 and 10); BENCH_BACKENDS=sqlite
# profiles the embedded database instead (files named create-flame-sqlite.svg and so on).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in wrk perf psql python3; do
  command -v "$tool" >/dev/null || { echo "profile needs $tool" >&2; exit 1; }
done
target_dir=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
# inferno turns perf's stacks into the SVG: installed once into the target directory.
tools=$target_dir/bench-tools/bin
if [ ! -x "$tools/inferno-flamegraph" ]; then
  cargo install inferno --locked --root "$target_dir/bench-tools"
fi
# Debug symbols without touching the ordinary release build: a target directory of its own.
if [ -z "${LINKWELL_BIN:-}" ]; then
  CARGO_PROFILE_RELEASE_DEBUG=true cargo build --release -q -p linkwell-api \
    --target-dir "$target_dir/profile"
  export LINKWELL_BIN=$target_dir/profile/release/linkwell
fi
export BENCH_TARGET_DIR=$target_dir BENCH_TOOLS=$tools BENCH_SECONDS=${BENCH_SECONDS:-10}
exec python3 bench/harness.py profile
