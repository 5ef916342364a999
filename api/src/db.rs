//! Runs Diesel work on the blocking pool, never on an actix worker thread, and fetches the
//! connection inside the blocking closure so waiting for one never stalls a worker either.

use actix_web::web;
use linkwell_persistence::{DbConnection, Pool, Tx, checkout, write_transaction};

use crate::error::ApiError;
use crate::state::AppState;

/// Runs `f` with a connection.
pub async fn run<T, F>(state: &web::Data<AppState>, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    run_on(state, |s| &s.pool, f).await
}

/// Runs `f` with a connection from the pool `which` picks.
async fn run_on<T, F>(
    state: &web::Data<AppState>,
    which: fn(&AppState) -> &Pool,
    f: F,
) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let state = state.clone();
    web::block(move || {
        let mut conn = checkout(which(&state), state.db_timeout)?;
        f(&mut conn)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))?
}

/// Runs `f` in a write transaction. A unique-constraint race with a concurrent writer (on
/// PostgreSQL the loser blocks, then fails) is retried once: the retry sees the winner's row.
pub async fn transaction<T, F>(state: &web::Data<AppState>, f: F) -> Result<T, ApiError>
where
    F: Fn(&mut Tx<'_>) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    run_on(
        state,
        |s| &s.writes,
        move |conn| match write_transaction(conn, &f) {
            Err(ApiError::Conflict(_)) => write_transaction(conn, &f),
            other => other,
        },
    )
    .await
}
