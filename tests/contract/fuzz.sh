#!/usr/bin/env bash
# Contract fuzzing: schemathesis (pinned, in a venv under target/) against the release binary
# on a fresh SQLite database, once with a token for each of the five roles and once without,
# once as a registered system, and once as a coordinator signed in through a stand-in OpenID
# Connect provider (tests/contract/oidc_provider.py, served from loopback).
# Every check runs except positive_data_acceptance: the schema cannot state the business
# rules that refuse schema-valid data (NHS number check digits, a contact preference needing
# its detail, unknown or merged ids, the lifecycle, the minimum age, If-Match versions).
# Usage: tests/contract/fuzz.sh [MAX_EXAMPLES]   (default 30 per operation)
set -euo pipefail
cd "$(dirname "$0")/../.."

VERSION=4.32.5
examples=${1:-30}
venv=target/fuzz-venv
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$VERSION"; then
  echo "== installing schemathesis $VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$VERSION"
fi
if ! "$venv/bin/python" -c 'import jwt, cryptography' 2>/dev/null; then
  echo "== installing pyjwt[crypto] into $venv (the stand-in OpenID Connect provider)"
  "$venv/bin/pip" install -q --disable-pip-version-check "pyjwt[crypto]==2.10.1"
fi

# The binary is where cargo put it: CARGO_TARGET_DIR or a config may move it from target/.
cargo build --release -q --bin linkwell
bin=$(cargo build --release -q --bin linkwell --message-format=json \
  | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "linkwell":
        print(m["executable"])')
[ -x "$bin" ] || { echo "fuzz.sh: cargo named no linkwell binary" >&2; exit 1; }
dir=$(mktemp -d)
"$bin" keygen --out "$dir/signing-key.pem" >/dev/null
export LINKWELL_SIGNING_KEY_FILE="$dir/signing-key.pem"
export DATABASE_URL="sqlite://$dir/fuzz.db"
# Fuzzing sends thousands of requests from one address; the limit itself has its own tests.
export LINKWELL_PUBLIC_RATE_PER_MINUTE=1000000
# A system token must outlive its schemathesis run.
export LINKWELL_CLIENT_TOKEN_TTL=3600
export LINKWELL_RATE_PER_MINUTE=1000000
export RUST_LOG=warn
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
base="http://127.0.0.1:$port"

# The stand-in provider: a discovery document and a key set, served from loopback.
idp_dir="$dir/idp"
mkdir -p "$idp_dir"
idp_port=$(free_port)
export LINKWELL_OIDC_ISSUER="http://127.0.0.1:$idp_port/realms/fuzz"
export LINKWELL_OIDC_AUDIENCE=linkwell-fuzz
"$venv/bin/python" tests/contract/oidc_provider.py setup "$idp_dir" "$LINKWELL_OIDC_ISSUER"
python3 -m http.server "$idp_port" --bind 127.0.0.1 --directory "$idp_dir" \
  >"$dir/idp.log" 2>&1 &
idp_pid=$!

"$bin" serve --bind "127.0.0.1:$port" >"$dir/server.log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" "$idp_pid" 2>/dev/null || true
  wait "$pid" "$idp_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -sf "$base/health/ready" >/dev/null && break
  sleep 0.1
done
curl -sf "$base/health/ready" >/dev/null

token() { "$bin" token --ttl 7200 "$@"; }
admin=$(token --role admin --sub fuzz-admin)
# Organisations for the organisation-bound roles, so their tokens name real ones.
org() {
  curl -sf "$base/v1/organisations" -H "Authorization: Bearer $admin" \
    -H 'Content-Type: application/json' -d "{\"name\": \"$1\", \"kind\": \"$2\"}" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}
practice=$(org "Fuzz Surgery" gp_practice)
partner=$(org "Fuzz Advice" partner)

failed=0
run() {
  local who=$1; shift
  echo "== schemathesis as $who"
  # One worker: hypothesis's function-description cache is not safe across threads (a
  # KeyError inside schemathesis with --workers 2).
  if ! "$venv/bin/schemathesis" --config-file tests/contract/schemathesis.toml \
      run openapi.yaml --url "$base" \
      --checks all --exclude-checks positive_data_acceptance \
      --max-examples "$examples" --workers 1 --no-color \
      --suppress-health-check all --generation-database none "$@"; then
    failed=1
  fi
}
run anonymous
run admin -H "Authorization: Bearer $admin"
run coordinator -H "Authorization: Bearer $(token --role coordinator --sub fuzz-coordinator)"
run referrer -H "Authorization: Bearer $(token --role referrer --sub fuzz-referrer --org "$practice")"
run partner -H "Authorization: Bearer $(token --role partner --sub fuzz-partner --org "$partner")"
run commissioner -H "Authorization: Bearer $(token --role commissioner --sub fuzz-commissioner)"
# A registered system's token, got from the token endpoint as the practice's GP system would.
system=$(curl -sf "$base/v1/api-clients" -H "Authorization: Bearer $admin" \
  -H 'Content-Type: application/json' \
  -d "{\"name\": \"Fuzz GP system\", \"role\": \"referrer\", \"org_id\": \"$practice\"}")
field() { python3 -c "import json, sys; print(json.load(sys.stdin)[\"$1\"])"; }
client_id=$(echo "$system" | field client_id)
client_secret=$(echo "$system" | field client_secret)
system_token=$(curl -sf "$base/v1/auth/token" -u "$client_id:$client_secret" \
  -d grant_type=client_credentials | field access_token)
run system-referrer -H "Authorization: Bearer $system_token"
# A coordinator signed in through the provider: a user, linked by an administrator to the
# provider's subject, whose RS256 token the provider signs.
user=$(curl -sf "$base/v1/users" -H "Authorization: Bearer $admin" \
  -H 'Content-Type: application/json' \
  -d '{"email": "fuzz-oidc@example.org", "display_name": "Fuzz OIDC", "role": "coordinator"}' \
  | field id)
curl -sf "$base/v1/users/$user/identities" -H "Authorization: Bearer $admin" \
  -H 'Content-Type: application/json' \
  -d "{\"issuer\": \"$LINKWELL_OIDC_ISSUER\", \"subject\": \"fuzz-oidc-1\"}" >/dev/null
oidc_token=$("$venv/bin/python" tests/contract/oidc_provider.py token "$idp_dir" \
  "$LINKWELL_OIDC_ISSUER" "$LINKWELL_OIDC_AUDIENCE" fuzz-oidc-1)
curl -sf "$base/v1/users/$user" -H "Authorization: Bearer $oidc_token" >/dev/null \
  || { echo "fuzz.sh: the provider's token was refused" >&2; exit 1; }
run oidc-coordinator -H "Authorization: Bearer $oidc_token"

if [ "$failed" -ne 0 ]; then
  echo "== contract fuzzing found failures (server log: see above runs)"
  exit 1
fi
echo "== contract fuzzing: 0 failures for every role, a registered system and a provider's user"
