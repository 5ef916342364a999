# Linkwell tasks. CI runs `make lint`, `make test` and `make fuzz-api` (see .ci/run).
.PHONY: run test lint openapi bench profile fmt fuzz-api

# The server on the embedded SQLite default (linkwell.db in this folder).
run:
	cargo run --release

# Every test on SQLite; again on PostgreSQL when TEST_DATABASE_URL names a database whose
# server may create and drop databases (each test gets a fresh one).
test:
	cargo build --workspace --bins
	cargo test --workspace --all-targets
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "== black-box suite on PostgreSQL"; \
		TEST_BACKEND=postgres cargo test --workspace --test api; \
	else \
		echo "== TEST_DATABASE_URL unset: PostgreSQL suite skipped"; \
	fi

# Formatting, clippy with warnings denied, the domain crate kept free of I/O frameworks, and
# the contract through Spectral's oas and OWASP API Security rulesets (pinned, from npm).
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	@bad=$$(cargo tree -p linkwell-domain -e normal --prefix none | grep -E '^(diesel|actix|utoipa|r2d2|jsonwebtoken|tokio)' || true); \
	if [ -n "$$bad" ]; then echo "linkwell-domain must stay pure, but depends on:"; echo "$$bad"; exit 1; fi
	@echo "domain crate has no framework dependencies"
	tests/contract/lint.sh

# Load test the release binary on both backends at 1, 8 and 32 clients on a seeded database,
# with the SQL ceiling (pgbench) and a FastAPI baseline; needs wrk, pgbench and a local
# PostgreSQL. Never part of `make test`. Settings: bench/run.sh; results: docs/benchmarks.md.
bench:
	bench/run.sh

# A flame graph of the release binary (with debug symbols) under the create load on
# PostgreSQL: target/bench/create-flame.svg and create-profile.txt (needs perf).
profile:
	bench/profile.sh

# Contract fuzzing: schemathesis (pinned, installed from PyPI into target/fuzz-venv) against
# the release binary on SQLite, as each role and without a token, every check but
# positive_data_acceptance (business rules a schema cannot state; see the script).
fuzz-api:
	tests/contract/fuzz.sh

# Regenerate the published contract from the code.
openapi:
	cargo run -q -p linkwell-api -- openapi > openapi.yaml

fmt:
	cargo fmt --all
