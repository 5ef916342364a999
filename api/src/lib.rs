//! Linkwell's HTTP API: actix-web handlers over the domain and persistence crates.
//!
//! A request flows: [`middleware`] (request id, CORS, problem bodies, headers) → [`access::Allowed`]
//! (token and role) → [`extract::ValidJson`] (strict JSON, validated) → a handler in [`routes`]
//! that parses into domain values and runs its repository calls in one transaction via [`db`],
//! recording an audit row alongside.

pub mod access;
pub mod audit;
pub mod audit_writer;
pub mod auth;
pub mod body_errors;
pub mod bounds;
pub mod change;
pub mod cli;
pub mod client_keys;
pub mod clock;
pub mod config;
pub mod connection_errors;
pub mod cors;
pub mod create;
pub mod db;
pub mod error;
pub mod expiry;
pub mod extract;
pub mod fallback;
pub mod fields;
pub mod idempotency;
pub mod listing;
pub mod middleware;
pub mod oidc;
pub mod openapi;
pub mod pagination;
pub mod params;
pub mod patch;
pub mod precondition;
pub mod purge;
pub mod ratelimit;
pub mod revocation;
pub mod routes;
mod rules;
pub mod schema;
pub mod secret_checks;
pub mod server;
pub mod signing_keys;
pub mod state;
pub mod totals;
pub mod verified_tokens;
pub mod wire;
