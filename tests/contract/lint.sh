#!/usr/bin/env bash
# Lints the published contract with Spectral's `oas` and OWASP API Security (2023) rulesets
# (.spectral.yaml); any error fails. The tools are pinned and installed from npm into
# target/spectral on first use.
# Usage: tests/contract/lint.sh [spectral lint options, e.g. -f json]
set -euo pipefail
cd "$(dirname "$0")/../.."

CLI=6.16.3
OWASP=2.0.1
prefix=target/spectral
spectral=$prefix/node_modules/.bin/spectral
installed() {
  [ -x "$spectral" ] && "$spectral" --version 2>/dev/null | grep -qx "$CLI" \
    && grep -q "\"version\": \"$OWASP\"" "$prefix/node_modules/@stoplight/spectral-owasp-ruleset/package.json" 2>/dev/null
}
if ! installed; then
  echo "== installing Spectral $CLI and the OWASP ruleset $OWASP into $prefix"
  npm install --prefix "$prefix" --no-audit --no-fund --silent \
    "@stoplight/spectral-cli@$CLI" "@stoplight/spectral-owasp-ruleset@$OWASP"
fi
"$spectral" lint openapi.yaml --ruleset .spectral.yaml --fail-severity error --display-only-failures "$@"
