#!/usr/bin/env bash
# Checks CORS in a real browser (headless Chromium): a page served from an allowed origin
# calls the API with a bearer token and reads the answer, its RateLimit fields and a problem;
# the same page from another origin cannot. Not part of `make test`: it needs Chromium
# (`apt-get install -y chromium`). See docs/cors.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "cors.sh: install chromium first (apt-get install -y chromium)" >&2; exit 2; }
cargo build -q --bin linkwell
target_dir=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin=${LINKWELL_BIN:-$target_dir/debug/linkwell}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
api_port=$(free_port); allowed_port=$(free_port); other_port=$(free_port)
allowed="http://localhost:$allowed_port"
other="http://localhost:$other_port"
api="http://127.0.0.1:$api_port"

dir=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

export DATABASE_URL="sqlite://$dir/cors.db"
LINKWELL_CORS_ORIGINS="$allowed" RUST_LOG=warn "$bin" serve --bind "127.0.0.1:$api_port" \
  >"$dir/server.log" 2>&1 &
pids+=($!)
for port in "$allowed_port" "$other_port"; do
  python3 -m http.server "$port" --bind 127.0.0.1 --directory tests/browser/page \
    >"$dir/page-$port.log" 2>&1 &
  pids+=($!)
done
for _ in $(seq 1 100); do
  curl -sf "$api/health/ready" >/dev/null && curl -sf "$allowed/" >/dev/null \
    && curl -sf "$other/" >/dev/null && break
  sleep 0.1
done

token=$("$bin" token --role coordinator --sub cors-check)
visit() {
  "$browser" --headless --disable-gpu --no-sandbox --virtual-time-budget=10000 \
    --user-data-dir="$dir/profile-$RANDOM" --dump-dom "$1/#api=$api&token=$token" 2>/dev/null \
    | grep -E '^<pre id="(list|problem)">' | sed -E 's/<[^>]+>//g'
}

status=0
echo "From the allowed origin $allowed:"
from_allowed=$(visit "$allowed"); echo "$from_allowed"
echo "$from_allowed" | grep -q '^list: status=200 items=0 ratelimit="default";r=[0-9]*;t=[0-9]* policy="default";q=1200;w=60 request-id=yes$' || status=1
echo "$from_allowed" | grep -q '^problem: status=401 code=unauthorized type=application/problem+json$' || status=1

echo "From another origin $other:"
from_other=$(visit "$other"); echo "$from_other"
echo "$from_other" | grep -q '^list: failed: TypeError: Failed to fetch$' || status=1
echo "$from_other" | grep -q '^problem: failed: TypeError: Failed to fetch$' || status=1

[ "$status" = 0 ] && echo "cors.sh: ok" || echo "cors.sh: FAILED" >&2
exit "$status"
