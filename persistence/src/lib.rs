//! Linkwell's storage: Diesel over SQLite (the zero set-up default) and PostgreSQL through one
//! `MultiConnection`, so every repository is written once. Backend differences live only in
//! [`dialect`].
//!
//! Repositories are plain functions taking a connection; callers choose the transaction (see
//! [`unit_of_work::write_transaction`]) so a change and its audit row commit together.

pub mod action_links;
pub mod api_clients;
pub mod audit;
pub mod community_work;
pub mod connection;
pub mod connections;
pub mod consent;
mod convert;
pub mod dialect;
pub mod directory;
pub mod erasure;
pub mod error;
pub mod group_sessions;
pub mod idempotency;
pub mod migrate;
pub mod organisations;
pub mod outcomes;
pub mod page;
pub mod people;
pub mod plans;
pub mod progress_notes;
pub mod referral_history;
pub mod referrals;
pub mod reports;
pub mod roles;
mod schema;
pub mod seed;
pub mod sessions;
mod sqlite_writer;
pub mod statement;
pub mod tallies;
pub mod teams;
pub mod unit_of_work;
pub mod user_identities;
pub mod users;

pub use connection::{
    DatabaseUrl, DbConnection, Pool, PoolOptions, PooledConnection, checkout, connect, establish,
    establish_with, ping,
};
pub use error::{StoreError, StoreResult};
pub use page::{Keyset, Order};
pub use unit_of_work::{Tx, write_transaction};
