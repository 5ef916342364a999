//! Configuration: one typed struct, read from flags and environment; the JWT secret is
//! redacted from every `Debug` and never logged.

use std::fmt;
use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use linkwell_persistence::{DatabaseUrl, PoolOptions};
use rand::RngCore;

use crate::auth::MIN_SECRET_BYTES;

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://linkwell.db";
pub const DEFAULT_ISSUER: &str = "linkwell";
pub const DEFAULT_AUDIENCE: &str = "linkwell-api";

/// The server's signing secret.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// Where the secret came from, to say at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Environment,
    File { path: PathBuf, created: bool },
    Given,
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Environment => f.write_str("from LINKWELL_JWT_SECRET"),
            SecretSource::File {
                path,
                created: true,
            } => {
                write!(
                    f,
                    "generated and kept in {} (set LINKWELL_JWT_SECRET in production)",
                    path.display()
                )
            }
            SecretSource::File {
                path,
                created: false,
            } => {
                write!(f, "read from {}", path.display())
            }
            SecretSource::Given => f.write_str("given by the embedding program"),
        }
    }
}

/// Everything the server needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: String,
    pub database: DatabaseUrl,
    pub secret: Secret,
    pub secret_source: SecretSource,
    pub issuer: String,
    pub audience: String,
    pub pool: PoolOptions,
    /// HTTP worker threads; `None` for one per core.
    pub workers: Option<usize>,
    /// How often each instance reloads the deactivated users (at most 30 s, so a deactivated
    /// user's tokens stop working everywhere within that).
    pub revocation_refresh: Duration,
    /// Requests a minute each client address may make to each operation open to anyone.
    pub public_rate_per_minute: NonZeroU32,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// Requests a minute each authenticated caller (role and subject) may make, across every
    /// operation: `LINKWELL_RATE_PER_MINUTE`, default 1200.
    pub rate_per_minute: NonZeroU32,
    /// Origins whose pages may call the API from a browser (`LINKWELL_CORS_ORIGINS`,
    /// comma-separated exact origins; none by default). Checked when the server starts.
    pub cors_origins: Vec<String>,
    /// The service is for people at least this old on the day a referral arrives, whatever its
    /// source (`LINKWELL_MIN_AGE`; `LINKWELL_SELF_REFERRAL_MIN_AGE` is read when it is unset).
    pub min_age: u32,
    /// When unanswered connection requests expire, and how often each instance looks.
    pub expiry: crate::expiry::Policy,
    /// The SWEMWBS improvement counted as meaningful, in hundredths of a metric point
    /// (`LINKWELL_SWEMWBS_MEANINGFUL_CHANGE`, metric points, default 3).
    pub meaningful_change_hundredths: i32,
    /// How long a request body may take to arrive once its head has (`408` after that, and the
    /// connection closes): `LINKWELL_BODY_TIMEOUT_SECONDS`, default 10.
    pub body_timeout: Duration,
    /// The longest-lived token the server accepts, `exp - iat` and `exp` from now:
    /// `LINKWELL_MAX_TOKEN_TTL` in seconds, default 24 h.
    pub max_token_ttl: Duration,
    /// Tokens for registered systems (`POST /v1/auth/token`).
    pub clients: ClientTokens,
}

/// How the token endpoint serves registered systems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTokens {
    /// The service's public base URL (`LINKWELL_PUBLIC_URL`, e.g. `https://linkwell.example.org`):
    /// a signed assertion's `aud` must be its token endpoint, `{public_url}/v1/auth/token`.
    /// Unset, the address the server listens on, over http.
    pub public_url: Option<String>,
    /// How long an issued token lives (`LINKWELL_CLIENT_TOKEN_TTL`, seconds; default 300).
    pub ttl: Duration,
}

impl Default for ClientTokens {
    fn default() -> Self {
        Self {
            public_url: None,
            ttl: Duration::from_secs(linkwell_domain::api_client::DEFAULT_TOKEN_SECONDS as u64),
        }
    }
}

/// Default for [`Config::body_timeout`].
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Default for [`Config::max_token_ttl`].
pub const DEFAULT_MAX_TOKEN_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Default for how often each instance expires unanswered connection requests.
pub const DEFAULT_EXPIRY_EVERY: Duration = Duration::from_secs(60);

/// Default for [`Config::public_rate_per_minute`].
pub const DEFAULT_PUBLIC_RATE_PER_MINUTE: NonZeroU32 = NonZeroU32::new(10).unwrap();
/// Default for [`Config::rate_per_minute`]: 20 a second on average, far above what a person
/// at a screen or a GP system's poll needs, low enough to stop a runaway script.
pub const DEFAULT_RATE_PER_MINUTE: NonZeroU32 = NonZeroU32::new(1200).unwrap();
/// Default for [`Config::min_age`]: LifeLink's rule.
pub const DEFAULT_MIN_AGE: u32 = 16;

/// Default for [`Config::revocation_refresh`].
pub const DEFAULT_REVOCATION_REFRESH: Duration = Duration::from_secs(10);

/// Configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid database URL: {0}")]
    DatabaseUrl(String),
    #[error(
        "LINKWELL_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes (got {0}); refusing to start"
    )]
    WeakSecret(usize),
    #[error("{name} is not a valid value (got `{value}`)")]
    Setting { name: &'static str, value: String },
    #[error("the JWT secret file {path} is unusable: {reason}")]
    SecretFile { path: String, reason: String },
    #[error(transparent)]
    Cors(#[from] crate::cors::BadOrigin),
}

impl Config {
    /// Reads the secret and the optional settings from the environment.
    pub fn from_env(bind: &str, database_url: &str) -> Result<Self, ConfigError> {
        let database = DatabaseUrl::parse(database_url).map_err(ConfigError::DatabaseUrl)?;
        let (secret, secret_source) = resolve_secret(&database)?;
        let env =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        let mut pool = PoolOptions::default();
        if let Some(size) = positive("LINKWELL_DB_POOL_SIZE")? {
            pool.max_size = u32::try_from(size).map_err(|_| ConfigError::Setting {
                name: "LINKWELL_DB_POOL_SIZE",
                value: size.to_string(),
            })?;
        }
        if let Some(seconds) = positive("LINKWELL_DB_LOCK_TIMEOUT_SECONDS")? {
            pool.lock_timeout = Duration::from_secs(seconds as u64);
        }
        Ok(Self {
            bind: bind.to_owned(),
            database,
            secret,
            secret_source,
            issuer: env("LINKWELL_JWT_ISSUER", DEFAULT_ISSUER),
            audience: env("LINKWELL_JWT_AUDIENCE", DEFAULT_AUDIENCE),
            pool,
            workers: positive("LINKWELL_WORKERS")?,
            revocation_refresh: DEFAULT_REVOCATION_REFRESH,
            public_rate_per_minute: per_minute(
                "LINKWELL_PUBLIC_RATE_PER_MINUTE",
                DEFAULT_PUBLIC_RATE_PER_MINUTE,
            )?,
            trusted_proxies: trusted_proxies()?,
            rate_per_minute: per_minute("LINKWELL_RATE_PER_MINUTE", DEFAULT_RATE_PER_MINUTE)?,
            cors_origins: cors_origins()?,
            min_age: min_age()?,
            expiry: crate::expiry::Policy {
                window: chrono::Duration::days(
                    match positive("LINKWELL_CONNECTION_RESPONSE_DAYS")? {
                        Some(days) => i64::try_from(days).ok().filter(|d| *d <= 3650).ok_or(
                            ConfigError::Setting {
                                name: "LINKWELL_CONNECTION_RESPONSE_DAYS",
                                value: days.to_string(),
                            },
                        )?,
                        None => linkwell_domain::connection::DEFAULT_RESPONSE_DAYS,
                    },
                ),
                every: positive("LINKWELL_EXPIRY_INTERVAL_SECONDS")?
                    .map_or(DEFAULT_EXPIRY_EVERY, |s| Duration::from_secs(s as u64)),
            },
            meaningful_change_hundredths: meaningful_change()?,
            body_timeout: positive("LINKWELL_BODY_TIMEOUT_SECONDS")?
                .map_or(DEFAULT_BODY_TIMEOUT, |s| Duration::from_secs(s as u64)),
            max_token_ttl: positive("LINKWELL_MAX_TOKEN_TTL")?
                .map_or(DEFAULT_MAX_TOKEN_TTL, |s| Duration::from_secs(s as u64)),
            clients: ClientTokens {
                public_url: public_url()?,
                ttl: positive("LINKWELL_CLIENT_TOKEN_TTL")?
                    .map_or(ClientTokens::default().ttl, |s| {
                        Duration::from_secs(s as u64)
                    }),
            },
        })
    }
}

/// `LINKWELL_MIN_AGE`, or the name it had when it bound self-referral only,
/// `LINKWELL_SELF_REFERRAL_MIN_AGE`: whole years from 0 to 120 (default 16).
fn min_age() -> Result<u32, ConfigError> {
    for name in ["LINKWELL_MIN_AGE", "LINKWELL_SELF_REFERRAL_MIN_AGE"] {
        if let Ok(value) = std::env::var(name) {
            return value
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|age| *age <= 120)
                .ok_or(ConfigError::Setting { name, value });
        }
    }
    Ok(DEFAULT_MIN_AGE)
}

/// `LINKWELL_SWEMWBS_MEANINGFUL_CHANGE`: metric points (e.g. `3` or `2.5`), more than 0 and at
/// most 28 (the scale's range), in hundredths.
fn meaningful_change() -> Result<i32, ConfigError> {
    let name = "LINKWELL_SWEMWBS_MEANINGFUL_CHANGE";
    let Ok(value) = std::env::var(name) else {
        return Ok((linkwell_domain::outcome::DEFAULT_MEANINGFUL_CHANGE * 100.0) as i32);
    };
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|points| *points > 0.0 && *points <= 28.0)
        .map(|points| (points * 100.0).round() as i32)
        .ok_or(ConfigError::Setting { name, value })
}

/// A per-minute rate: a whole number from 1 to 2^32 - 1.
fn per_minute(name: &'static str, default: NonZeroU32) -> Result<NonZeroU32, ConfigError> {
    match positive(name)? {
        Some(n) => u32::try_from(n)
            .ok()
            .and_then(NonZeroU32::new)
            .ok_or(ConfigError::Setting {
                name,
                value: n.to_string(),
            }),
        None => Ok(default),
    }
}

/// `LINKWELL_CORS_ORIGINS`, each checked now so a bad one stops the server before it listens.
fn cors_origins() -> Result<Vec<String>, ConfigError> {
    let origins = std::env::var("LINKWELL_CORS_ORIGINS")
        .map(|list| crate::cors::CorsPolicy::split(&list))
        .unwrap_or_default();
    crate::cors::CorsPolicy::new(&origins)?;
    Ok(origins)
}

/// `LINKWELL_PUBLIC_URL`: an absolute http(s) URL with no query or fragment; a trailing `/`
/// is dropped.
fn public_url() -> Result<Option<String>, ConfigError> {
    let name = "LINKWELL_PUBLIC_URL";
    let Ok(value) = std::env::var(name) else {
        return Ok(None);
    };
    let url = value.trim().trim_end_matches('/');
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    let host_ok = url
        .split_once("://")
        .is_some_and(|(_, rest)| !rest.is_empty());
    if scheme_ok && host_ok && !url.contains(['?', '#', ' ']) {
        Ok(Some(url.to_owned()))
    } else {
        Err(ConfigError::Setting { name, value })
    }
}

/// `LINKWELL_TRUSTED_PROXIES`: comma-separated IP addresses.
fn trusted_proxies() -> Result<Vec<IpAddr>, ConfigError> {
    let Ok(value) = std::env::var("LINKWELL_TRUSTED_PROXIES") else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse().map_err(|_| ConfigError::Setting {
                name: "LINKWELL_TRUSTED_PROXIES",
                value: value.clone(),
            })
        })
        .collect()
}

/// A setting that must be a positive whole number, if set.
fn positive(name: &'static str) -> Result<Option<usize>, ConfigError> {
    let Ok(value) = std::env::var(name) else {
        return Ok(None);
    };
    match value.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(Some(n)),
        _ => Err(ConfigError::Setting { name, value }),
    }
}

/// `LINKWELL_JWT_SECRET` if set; else a secret kept in a file (next to the SQLite database, or
/// `linkwell.jwt-secret` in the working directory for PostgreSQL), generated on first use so a
/// fresh checkout just works.
fn resolve_secret(database: &DatabaseUrl) -> Result<(Secret, SecretSource), ConfigError> {
    if let Ok(value) = std::env::var("LINKWELL_JWT_SECRET") {
        if value.len() < MIN_SECRET_BYTES {
            return Err(ConfigError::WeakSecret(value.len()));
        }
        return Ok((Secret::new(value.into_bytes()), SecretSource::Environment));
    }
    let path = std::env::var_os("LINKWELL_JWT_SECRET_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| secret_file_for(database));
    let (secret, created) = read_or_create(&path)?;
    Ok((secret, SecretSource::File { path, created }))
}

/// `linkwell.db` → `linkwell.db.jwt-secret`, beside it.
pub fn secret_file_for(database: &DatabaseUrl) -> PathBuf {
    match database.sqlite_path() {
        Some(db) => {
            let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
            name.push(".jwt-secret");
            db.with_file_name(name)
        }
        None => PathBuf::from("linkwell.jwt-secret"),
    }
}

fn read_or_create(path: &Path) -> Result<(Secret, bool), ConfigError> {
    let unusable = |reason: String| ConfigError::SecretFile {
        path: path.display().to_string(),
        reason,
    };
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let fresh: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // `create_new` makes the first writer win if two processes start at once.
    match create_private(path) {
        Ok(mut file) => {
            file.write_all(fresh.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| unusable(e.to_string()))?;
            Ok((Secret::new(fresh.into_bytes()), true))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            warn_if_shared(path);
            let stored = fs::read_to_string(path).map_err(|e| unusable(e.to_string()))?;
            let stored = stored.trim();
            if stored.len() < MIN_SECRET_BYTES {
                return Err(unusable(format!(
                    "it holds {} bytes; at least {MIN_SECRET_BYTES} are needed",
                    stored.len()
                )));
            }
            Ok((Secret::new(stored.as_bytes().to_vec()), false))
        }
        Err(e) => Err(unusable(e.to_string())),
    }
}

/// Anyone who can read the secret can sign tokens for any role.
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            log::warn!(
                "the JWT secret file {} is readable by others; run `chmod 600` on it",
                path.display()
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_file_sits_beside_the_database() {
        let db = DatabaseUrl::parse("sqlite://data/linkwell.db")
            .unwrap_or(DatabaseUrl::Postgres(String::new()));
        assert_eq!(
            secret_file_for(&db),
            PathBuf::from("data/linkwell.db.jwt-secret")
        );
        let pg = DatabaseUrl::Postgres("postgres://localhost/x".into());
        assert_eq!(secret_file_for(&pg), PathBuf::from("linkwell.jwt-secret"));
    }

    #[test]
    fn a_generated_secret_is_private_and_reused() {
        let dir = std::env::temp_dir().join(format!("linkwell-secret-{}", uuid::Uuid::new_v4()));
        assert!(fs::create_dir_all(&dir).is_ok());
        let path = dir.join("s.jwt-secret");
        let first = read_or_create(&path).map(|(s, created)| (s.expose().to_vec(), created));
        let second = read_or_create(&path).map(|(s, created)| (s.expose().to_vec(), created));
        let (first, created) = first.unwrap_or_default();
        assert!(created);
        assert_eq!(first.len(), 64);
        assert_eq!(second.ok(), Some((first, false)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path)
                .map(|m| m.permissions().mode() & 0o777)
                .ok();
            assert_eq!(mode, Some(0o600));
        }
        let _ = fs::remove_dir_all(&dir);
    }
}
