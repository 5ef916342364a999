//! Black-box tests: the real app over HTTP, on SQLite (default) or PostgreSQL
//! (`TEST_BACKEND=postgres` with `TEST_DATABASE_URL`), a fresh database per test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api_clients;
mod audit;
mod audit_trail;
mod auth;
mod bounds;
mod browsers;
mod caseload;
mod cli;
mod connections;
mod consent;
mod database_roles;
mod directory;
mod disclosure;
mod errors;
mod feed;
mod finding;
mod health;
mod http;
mod idempotency;
mod identity;
mod inputs;
mod lifecycle;
mod listing;
mod migrations;
mod oidc;
mod openapi;
mod organisations;
mod outcome_errors;
mod outcomes;
mod people;
mod plans;
mod privacy;
mod readme;
mod referrals;
mod report_formats;
mod reports;
mod repository;
mod scale_out;
mod self_referrals;
mod sessions;
mod support;
mod token_keys;
mod totals;
mod users;
