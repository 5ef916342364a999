//! One connection type for both backends, and the pool that hands them out.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::r2d2::R2D2Connection;
use diesel::{Connection, ConnectionError, PgConnection, SqliteConnection};

use crate::dialect;
use crate::error::{StoreError, StoreResult};

/// The backend of [`DbConnection`], for boxed queries.
pub type Backend = <DbConnection as diesel::Connection>::Backend;

/// A connection to whichever database the URL named.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

impl fmt::Debug for DbConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DbConnection::Sqlite(_) => "DbConnection::Sqlite",
            DbConnection::Pg(_) => "DbConnection::Pg",
        })
    }
}

/// Where the data lives: `sqlite://PATH` or a `postgres://` URL.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    /// Parses `sqlite://PATH` (relative, or absolute as `sqlite:///abs/path`) or
    /// `postgres://…` / `postgresql://…`.
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// needs a file path, e.g. sqlite://linkwell.db".into());
            }
            // Each pooled connection would get its own empty in-memory database.
            if path.starts_with(':') || path.starts_with("file:") || path.contains('?') {
                return Err(
                    "sqlite:// takes a plain file path (no :memory:, file: or ?options)".into(),
                );
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        Err("database URL must start with sqlite:// or postgres://".into())
    }

    /// The SQLite file, if this is SQLite.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Self::Sqlite(path) => Some(path),
            Self::Postgres(_) => None,
        }
    }

    /// Which backend: `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// Shows the URL with any password replaced, so it is safe to log.
impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Self::Postgres(url) => f.write_str(&redact_password(url)),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Masks the password wherever libpq accepts one: in the user-info part and as a `password`
/// query parameter.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (location, query) = match rest.split_once('?') {
        Some((location, query)) => (location, Some(query)),
        None => (rest, None),
    };
    let authority_end = location.find('/').unwrap_or(location.len());
    let location = match location[..authority_end].rfind('@') {
        Some(at) => match location[..at].split_once(':') {
            Some((user, _password)) => format!("{user}:***{}", &location[at..]),
            None => location.to_owned(),
        },
        None => location.to_owned(),
    };
    let query = query.map(|q| {
        q.split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("&")
    });
    match query {
        Some(query) => format!("{scheme}://{location}?{query}"),
        None => format!("{scheme}://{location}"),
    }
}

/// Opens one connection, configured as the pool configures its own by default.
pub fn establish(url: &DatabaseUrl) -> Result<DbConnection, ConnectError> {
    establish_with(url, DEFAULT_LOCK_TIMEOUT)
}

/// Opens one connection whose statements wait at most `lock_timeout` for a lock (SQLite's busy
/// timeout; PostgreSQL's `lock_timeout`).
pub fn establish_with(
    url: &DatabaseUrl,
    lock_timeout: Duration,
) -> Result<DbConnection, ConnectError> {
    match url {
        DatabaseUrl::Sqlite(path) => {
            create_private(path);
            let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
            dialect::configure_sqlite(&mut conn, lock_timeout)?;
            Ok(DbConnection::Sqlite(conn))
        }
        DatabaseUrl::Postgres(url) => {
            let mut conn = PgConnection::establish(url)?;
            dialect::configure_postgres(&mut conn, lock_timeout)?;
            Ok(DbConnection::Pg(conn))
        }
    }
}

/// How long a statement waits for a lock by default before the request answers 503.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// Creates a missing SQLite file readable by its owner only: it holds personal data. SQLite
/// gives its `-wal` and `-shm` files the same permissions. An existing file is left as it is;
/// if creation fails, opening the database reports the real problem.
fn create_private(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Opens connections for the pool, configuring each SQLite connection as it opens.
#[derive(Debug)]
pub struct Manager {
    url: DatabaseUrl,
    lock_timeout: Duration,
}

/// Why a connection could not be opened or checked.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Connect(#[from] ConnectionError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// A pooled connection, and when it was last handed out.
#[derive(Debug)]
pub struct Pooled {
    conn: DbConnection,
    handed_out: Instant,
}

impl Deref for Pooled {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

/// A connection handed out this recently worked (or its use found it broken and the pool
/// dropped it), so it is handed out again without a check. One idle for longer is checked
/// first: a database restart or failover while it sat idle is found here, not by a request.
/// Under load every connection is in use, and a `SELECT 1` before every request would be a
/// round trip in three for a read.
pub const CHECK_IDLE_AFTER: Duration = Duration::from_secs(2);

impl r2d2::ManageConnection for Manager {
    type Connection = Pooled;
    type Error = ConnectError;

    fn connect(&self) -> Result<Pooled, ConnectError> {
        Ok(Pooled {
            conn: establish_with(&self.url, self.lock_timeout)?,
            handed_out: Instant::now(),
        })
    }

    fn is_valid(&self, pooled: &mut Pooled) -> Result<(), ConnectError> {
        if pooled.handed_out.elapsed() >= CHECK_IDLE_AFTER {
            pooled.conn.batch_execute("SELECT 1")?;
        }
        pooled.handed_out = Instant::now();
        Ok(())
    }

    fn has_broken(&self, pooled: &mut Pooled) -> bool {
        std::thread::panicking() || pooled.conn.is_broken()
    }
}

/// The pool of connections shared by request handlers.
pub type Pool = r2d2::Pool<Manager>;
/// A connection borrowed from the pool.
pub type PooledConnection = r2d2::PooledConnection<Manager>;

/// Pool settings.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_size: u32,
    /// How long a request waits for a connection before the database counts as unavailable.
    pub acquire_timeout: Duration,
    /// How long a statement waits for a lock (a row, the report totals, SQLite's one writer)
    /// before it fails and the request answers 503 with `Retry-After`.
    pub lock_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_size: 8,
            acquire_timeout: Duration::from_secs(5),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
        }
    }
}

/// Opens a pool; fails when no connection can be opened at all.
pub fn connect(url: &DatabaseUrl, options: &PoolOptions) -> StoreResult<Pool> {
    r2d2::Pool::builder()
        .max_size(options.max_size)
        .min_idle(Some(1))
        .connection_timeout(options.acquire_timeout)
        // A connection the server dropped (restart, failover) while it sat idle is found and
        // replaced here instead of failing a request: see `CHECK_IDLE_AFTER`.
        .test_on_check_out(true)
        .build(Manager {
            url: url.clone(),
            lock_timeout: options.lock_timeout,
        })
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

/// Checks the database answers.
pub fn ping(conn: &mut DbConnection) -> StoreResult<()> {
    Ok(conn.batch_execute("SELECT 1")?)
}

/// Borrows a connection, waiting at most `timeout`.
pub fn checkout(pool: &Pool, timeout: Duration) -> StoreResult<PooledConnection> {
    Ok(pool.get_timeout(timeout)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_redacts_urls() {
        let pg = DatabaseUrl::parse("postgres://app:s3cret@db.example:5432/linkwell");
        assert_eq!(
            pg.map(|u| u.to_string()),
            Ok("postgres://app:***@db.example:5432/linkwell".to_owned())
        );
        let query =
            DatabaseUrl::parse("postgres://app@db/linkwell?password=s3cret&sslmode=require");
        assert_eq!(
            query.map(|u| u.to_string()),
            Ok("postgres://app@db/linkwell?password=***&sslmode=require".to_owned())
        );
        let bare = DatabaseUrl::parse("postgresql://localhost/linkwell?sslmode=require");
        assert_eq!(
            bare.map(|u| u.to_string()),
            Ok("postgresql://localhost/linkwell?sslmode=require".to_owned())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/linkwell.db"),
            Ok(DatabaseUrl::Sqlite(PathBuf::from("data/linkwell.db")))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/linkwell.db").map(|u| u.backend()),
            Ok("sqlite")
        );
        assert!(DatabaseUrl::parse("mysql://x").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
        assert!(DatabaseUrl::parse("sqlite://:memory:").is_err());
        assert!(DatabaseUrl::parse("sqlite://file:x.db?mode=memory").is_err());
    }
}
