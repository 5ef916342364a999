#!/usr/bin/env bash
# Load test against the release binary on a throwaway database: creates, reads and lists
# referrals with `hey` (Debian package). Usage: bench/run.sh [sqlite|postgres] [seconds] [concurrency]
# (LINKWELL_BIN=path to measure a binary other than this checkout's release build).
# PostgreSQL uses the local server (postgres@127.0.0.1) and a database made for the run.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}
seconds=${2:-15}
concurrency=${3:-16}
port=${BENCH_PORT:-18080}
command -v hey >/dev/null || { echo "needs hey: apt-get install -y hey"; exit 1; }

# LINKWELL_BIN measures another build (e.g. the previous release) with the same load.
if [ -z "${LINKWELL_BIN:-}" ]; then cargo build --release -q; fi
target_dir=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin=${LINKWELL_BIN:-$target_dir/release/linkwell}
dir=$(mktemp -d)
db=""
case "$backend" in
  sqlite) url="sqlite://$dir/bench.db" ;;
  postgres)
    db="linkwell_bench_$$"
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db"
    url="postgres://postgres@127.0.0.1:5432/$db" ;;
  *) echo "backend must be sqlite or postgres"; exit 2 ;;
esac
# The server and `linkwell token` share one signing key (PostgreSQL needs it configured).
"$bin" keygen --out "$dir/signing-key.pem" >/dev/null
export LINKWELL_SIGNING_KEY_FILE="$dir/signing-key.pem"
# The load is a few tokens sending thousands of requests a second: not what the limits are for.
export LINKWELL_RATE_PER_MINUTE=100000000 LINKWELL_PUBLIC_RATE_PER_MINUTE=100000000
RUST_LOG=warn "$bin" serve --bind "127.0.0.1:$port" --database-url "$url" >"$dir/server.log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ -n "$db" ] && psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -rf "$dir"
}
trap cleanup EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 1 50); do curl -sf "$base/health/ready" >/dev/null && break; sleep 0.2; done

admin=$("$bin" token --role admin --sub bench-admin)
org=$(curl -sf "$base/v1/organisations" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d '{"name":"Bench Practice","kind":"gp_practice"}' | sed -E 's/.*"id":"([^"]+)".*/\1/')
referrer=$("$bin" token --role referrer --sub bench-gp --org "$org")
cat >"$dir/referral.json" <<'JSON'
{"person":{"given_name":"Sam","family_name":"Jones","date_of_birth":"1950-02-28","nhs_number":"999 000 0018","phone":"01284 123456","postcode":"IP33 3ND","preferred_contact":"phone"},"source":"gp_practice","reasons":["loneliness","money_and_benefits"],"summary":"Lives alone since bereavement.","consent_to_share":true}
JSON
id=$(curl -sf "$base/v1/referrals" -H "Authorization: Bearer $referrer" -H 'Content-Type: application/json' \
  -d @"$dir/referral.json" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')

report() {
  echo "### $1"
  shift
  hey -z "${seconds}s" -c "$concurrency" ${HEY_FLAGS:-} "$@" | grep -E 'Requests/sec|Average|Slowest|  (50|90|99)% in|^ +\[[0-9]{3}\]'
  echo
}
echo "backend=$backend duration=${seconds}s concurrency=$concurrency cores=$(nproc) $(date -u +%FT%TZ)"
report "POST /v1/referrals (create, with audit row)" -m POST -H "Authorization: Bearer $referrer" \
  -T application/json -D "$dir/referral.json" "$base/v1/referrals"
# The create phase grew the tables from nothing within seconds, faster than autovacuum's
# one-minute nap: refresh planner statistics as it would, so reads are measured as in service.
[ -n "$db" ] && psql -h 127.0.0.1 -U postgres -d "$db" -qc "ANALYZE"
report "GET /v1/referrals/{id} (read, with audit row)" -H "Authorization: Bearer $referrer" "$base/v1/referrals/$id"
report "GET /v1/referrals?limit=50 (page of 50, with audit row)" -H "Authorization: Bearer $referrer" "$base/v1/referrals?limit=50"
# Connections: a partner's feed page, a read, a note; a directory search.
staff=$("$bin" token --role coordinator --sub bench-worker)
curl -sf "$base/v1/referrals/$id/transitions" -H "Authorization: Bearer $staff" -H 'Content-Type: application/json' \
  -H 'If-Match: "1"' -d '{"to":"accepted"}' >/dev/null
partner_org=$(curl -sf "$base/v1/organisations" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d '{"name":"Bench Advice","kind":"partner"}' | sed -E 's/.*"id":"([^"]+)".*/\1/')
partner=$("$bin" token --role partner --sub bench-partner --org "$partner_org")
curl -sf "$base/v1/directory/services" -H "Authorization: Bearer $staff" -H 'Content-Type: application/json' \
  -d "{\"name\":\"Debt advice\",\"description\":\"Free help with debt.\",\"needs\":[\"money_and_benefits\"],\"organisation_id\":\"$partner_org\",\"accepts_referrals\":true}" >/dev/null
for _ in $(seq 1 100); do
  connection=$(curl -sf "$base/v1/referrals/$id/connections" -H "Authorization: Bearer $staff" -H 'Content-Type: application/json' \
    -d "{\"organisation_id\":\"$partner_org\",\"need\":\"money_and_benefits\",\"consent_to_share\":true,\"shared_fields\":[\"given_name\",\"phone\"]}" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
done
[ -n "$db" ] && psql -h 127.0.0.1 -U postgres -d "$db" -qc "ANALYZE"
echo '{"text":"Called; booked for Tuesday."}' >"$dir/note.json"
report "GET /v1/connections?updated_since=…&limit=50 (partner's feed page, with audit row)" \
  -H "Authorization: Bearer $partner" "$base/v1/connections?updated_since=2000-01-01&limit=50"
report "GET /v1/connections/{id} (partner read, consented fields, with audit row)" \
  -H "Authorization: Bearer $partner" "$base/v1/connections/$connection"
report "POST /v1/connections/{id}/notes (note, a change in the feed, with audit row)" -m POST \
  -H "Authorization: Bearer $partner" -T application/json -D "$dir/note.json" "$base/v1/connections/$connection/notes"
report "GET /v1/directory/services?need=…&q=debt (search)" \
  -H "Authorization: Bearer $partner" "$base/v1/directory/services?need=money_and_benefits&q=debt"
report "GET /health/live" "$base/health/live"
