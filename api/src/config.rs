//! Configuration: one typed struct, read from flags and environment; the signing key is
//! redacted from every `Debug` and never logged.

use std::ffi::OsString;
use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use linkwell_persistence::{DatabaseUrl, PoolOptions};

use crate::oidc::OidcSettings;
use crate::signing_keys::{SigningKey, VerifyKey};

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://linkwell.db";
pub const DEFAULT_ISSUER: &str = "linkwell";
pub const DEFAULT_AUDIENCE: &str = "linkwell-api";

/// The settings of the retired shared HS256 secret: set, they refuse start-up rather than be
/// silently ignored.
pub const RETIRED_SECRET_SETTINGS: [&str; 2] = ["LINKWELL_JWT_SECRET", "LINKWELL_JWT_SECRET_FILE"];

/// Where the signing key came from, to say at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `LINKWELL_SIGNING_KEY_FILE`.
    Configured(PathBuf),
    /// The file beside the SQLite database, made on first start if `created`.
    BesideDatabase {
        path: PathBuf,
        created: bool,
    },
    Given,
    /// A throwaway key for a command that signs nothing (migrate, seed, expire, retotal), so
    /// those run against PostgreSQL without the server's key.
    Ephemeral,
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Configured(path) => {
                write!(
                    f,
                    "read from {} (LINKWELL_SIGNING_KEY_FILE)",
                    path.display()
                )
            }
            KeySource::BesideDatabase {
                path,
                created: true,
            } => write!(
                f,
                "generated and kept in {} (set LINKWELL_SIGNING_KEY_FILE in production)",
                path.display()
            ),
            KeySource::BesideDatabase {
                path,
                created: false,
            } => write!(f, "read from {}", path.display()),
            KeySource::Given => f.write_str("given by the embedding program"),
            KeySource::Ephemeral => {
                f.write_str("made for this command only, which signs and verifies nothing")
            }
        }
    }
}

/// Everything the server needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: String,
    pub database: DatabaseUrl,
    /// The key that signs tokens (ES256).
    pub signing_key: SigningKey,
    pub key_source: KeySource,
    /// Older keys that still verify (and are published) until their tokens expire:
    /// `LINKWELL_VERIFY_KEY_FILES`.
    pub verify_keys: Vec<VerifyKey>,
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
    /// Requests a minute each client address may make to each health probe and to the key
    /// set: `LINKWELL_PROBE_RATE_PER_MINUTE`, default 600.
    pub probe_rate_per_minute: NonZeroU32,
    /// Origins whose pages may call the API from a browser (`LINKWELL_CORS_ORIGINS`,
    /// comma-separated exact origins; none by default). Checked when the server starts.
    pub cors_origins: Vec<String>,
    /// The service is for people at least this old on the day a referral arrives, whatever its
    /// source (`LINKWELL_MIN_AGE`; `LINKWELL_SELF_REFERRAL_MIN_AGE` is read when it is unset).
    pub min_age: u32,
    /// When unanswered connection requests expire, and how often each instance looks.
    pub expiry: crate::expiry::Policy,
    /// How often each instance folds the report totals' deltas into the totals
    /// (`LINKWELL_TOTALS_FOLD_INTERVAL_MS`, default 500): reports add the deltas not yet
    /// folded, so this bounds how many they read, not whether they are exact.
    pub totals_fold_every: Duration,
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
    /// The OpenID Connect provider whose tokens act as linked users: `LINKWELL_OIDC_ISSUER` and
    /// `LINKWELL_OIDC_AUDIENCE`, both or neither.
    pub oidc: Option<OidcSettings>,
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
    /// How many client secrets may be checked (argon2) at once across the instance
    /// (`LINKWELL_SECRET_CHECKS`; default one per core); more answer 429.
    pub secret_checks: std::num::NonZeroUsize,
}

impl Default for ClientTokens {
    fn default() -> Self {
        Self {
            public_url: None,
            ttl: Duration::from_secs(linkwell_domain::api_client::DEFAULT_TOKEN_SECONDS as u64),
            secret_checks: crate::secret_checks::default_limit(),
        }
    }
}

/// Default for [`Config::body_timeout`].
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Default for [`Config::max_token_ttl`].
pub const DEFAULT_MAX_TOKEN_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Default for how often each instance folds the report totals' deltas.
pub const DEFAULT_TOTALS_FOLD_EVERY: Duration = Duration::from_millis(500);

/// Default for how often each instance expires unanswered connection requests.
pub const DEFAULT_EXPIRY_EVERY: Duration = Duration::from_secs(60);

/// Default for [`Config::public_rate_per_minute`].
pub const DEFAULT_PUBLIC_RATE_PER_MINUTE: NonZeroU32 = NonZeroU32::new(10).unwrap();
/// Default for [`Config::rate_per_minute`]: 20 a second on average, far above what a person
/// at a screen or a GP system's poll needs, low enough to stop a runaway script.
pub const DEFAULT_RATE_PER_MINUTE: NonZeroU32 = NonZeroU32::new(1200).unwrap();
/// Default for [`Config::probe_rate_per_minute`]: ten a second from one address, sixty times
/// what a kubelet probing every ten seconds needs; readiness reaches the database, so an
/// unlimited probe would be a way to load it.
pub const DEFAULT_PROBE_RATE_PER_MINUTE: NonZeroU32 = NonZeroU32::new(600).unwrap();
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
        "{0} is no longer read: Linkwell signs its tokens with an ES256 key, verifiable by \
         anyone with its public keys (/.well-known/jwks.json), and no shared secret. Set \
         LINKWELL_SIGNING_KEY_FILE to a PKCS#8 PEM P-256 private key (make one with \
         `linkwell keygen --out PATH`) and unset {0}; refusing to start"
    )]
    RetiredSecret(&'static str),
    #[error(
        "PostgreSQL needs LINKWELL_SIGNING_KEY_FILE: the path to a PKCS#8 PEM P-256 private key \
         shared by every instance (make one with `linkwell keygen --out PATH`); refusing to start"
    )]
    NoSigningKey,
    #[error("{name} is not a valid value (got `{value}`)")]
    Setting { name: &'static str, value: String },
    #[error(transparent)]
    Cors(#[from] crate::cors::BadOrigin),
    #[error("{0}; refusing to start")]
    Oidc(String),
    #[error(
        "LINKWELL_CLIENT_TOKEN_TTL is {ttl} s, longer than the longest-lived token the server \
         accepts (LINKWELL_MAX_TOKEN_TTL, {max} s): every token it issued would be refused; \
         refusing to start"
    )]
    ClientTokenTtl { ttl: u64, max: u64 },
    #[error("{setting}: the key file {path} is unusable: {reason}; refusing to start")]
    KeyFile {
        setting: &'static str,
        path: String,
        reason: String,
    },
}

impl Config {
    /// Reads the keys and the optional settings from the environment.
    pub fn from_env(bind: &str, database_url: &str) -> Result<Self, ConfigError> {
        Self::read_env(bind, database_url, true)
    }

    /// As [`Config::from_env`], for a command that signs and verifies nothing: no key is read
    /// or made.
    pub fn from_env_without_keys(bind: &str, database_url: &str) -> Result<Self, ConfigError> {
        Self::read_env(bind, database_url, false)
    }

    fn read_env(bind: &str, database_url: &str, keys: bool) -> Result<Self, ConfigError> {
        let database = DatabaseUrl::parse(database_url).map_err(ConfigError::DatabaseUrl)?;
        let max_token_ttl = positive("LINKWELL_MAX_TOKEN_TTL")?
            .map_or(DEFAULT_MAX_TOKEN_TTL, |s| Duration::from_secs(s as u64));
        let client_token_ttl = positive("LINKWELL_CLIENT_TOKEN_TTL")?
            .map_or(ClientTokens::default().ttl, |s| {
                Duration::from_secs(s as u64)
            });
        // Checked before any key is read or made: a command that signs nothing is not stopped.
        if keys {
            check_client_token_ttl(client_token_ttl, max_token_ttl)?;
        }
        let env_var = |name: &str| std::env::var_os(name);
        let (signing_key, key_source, verify_keys) = if keys {
            let (key, source) = resolve_signing_key(&database, &env_var)?;
            (key, source, verify_keys(&env_var)?)
        } else {
            (SigningKey::generate(), KeySource::Ephemeral, Vec::new())
        };
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
            signing_key,
            key_source,
            verify_keys,
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
            probe_rate_per_minute: per_minute(
                "LINKWELL_PROBE_RATE_PER_MINUTE",
                DEFAULT_PROBE_RATE_PER_MINUTE,
            )?,
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
            totals_fold_every: positive("LINKWELL_TOTALS_FOLD_INTERVAL_MS")?
                .map_or(DEFAULT_TOTALS_FOLD_EVERY, |ms| {
                    Duration::from_millis(ms as u64)
                }),
            meaningful_change_hundredths: meaningful_change()?,
            body_timeout: positive("LINKWELL_BODY_TIMEOUT_SECONDS")?
                .map_or(DEFAULT_BODY_TIMEOUT, |s| Duration::from_secs(s as u64)),
            max_token_ttl,
            clients: ClientTokens {
                public_url: public_url()?,
                ttl: client_token_ttl,
                secret_checks: positive("LINKWELL_SECRET_CHECKS")?
                    .and_then(std::num::NonZeroUsize::new)
                    .unwrap_or_else(crate::secret_checks::default_limit),
            },
            oidc: oidc_settings(&env_var, &env("LINKWELL_JWT_ISSUER", DEFAULT_ISSUER))?,
        })
    }
}

/// `LINKWELL_OIDC_ISSUER` and `LINKWELL_OIDC_AUDIENCE`: both or neither. The issuer is a URL
/// (https, or http to a loopback host) that cannot be mistaken for Linkwell's own (`own_issuer`):
/// the `iss` a token claims picks which keys verify it.
pub fn oidc_settings(
    env: &dyn Fn(&str) -> Option<OsString>,
    own_issuer: &str,
) -> Result<Option<OidcSettings>, ConfigError> {
    let read = |name: &str| env(name).map(|v| v.to_string_lossy().trim().to_owned());
    let (issuer, audience) = match (read("LINKWELL_OIDC_ISSUER"), read("LINKWELL_OIDC_AUDIENCE")) {
        (None, None) => return Ok(None),
        (Some(issuer), Some(audience)) => (issuer, audience),
        (Some(_), None) => {
            return Err(ConfigError::Oidc(
                "LINKWELL_OIDC_ISSUER is set without LINKWELL_OIDC_AUDIENCE: set both (the \
                 audience is what the provider puts in `aud` for Linkwell, usually its client \
                 id there) or neither"
                    .into(),
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::Oidc(
                "LINKWELL_OIDC_AUDIENCE is set without LINKWELL_OIDC_ISSUER: set both (the \
                 issuer is the provider's issuer URL, as its tokens' `iss` carries it) or neither"
                    .into(),
            ));
        }
    };
    linkwell_domain::Issuer::parse(&issuer)
        .map_err(|e| ConfigError::Oidc(format!("LINKWELL_OIDC_ISSUER (`{issuer}`) {e}")))?;
    if issuer == own_issuer {
        return Err(ConfigError::Oidc(
            "LINKWELL_OIDC_ISSUER must differ from LINKWELL_JWT_ISSUER, Linkwell's own".into(),
        ));
    }
    if audience.is_empty()
        || audience.chars().count() > 255
        || audience.chars().any(char::is_control)
    {
        return Err(ConfigError::Oidc(
            "LINKWELL_OIDC_AUDIENCE must be 1 to 255 characters with no control characters".into(),
        ));
    }
    Ok(Some(OidcSettings { issuer, audience }))
}

/// A token issued to a system must live no longer than the server accepts, or the server would
/// issue tokens it then refuses.
pub fn check_client_token_ttl(ttl: Duration, max: Duration) -> Result<(), ConfigError> {
    if ttl > max {
        return Err(ConfigError::ClientTokenTtl {
            ttl: ttl.as_secs(),
            max: max.as_secs(),
        });
    }
    Ok(())
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

/// `LINKWELL_SIGNING_KEY_FILE` if set; else, for SQLite, a key kept beside the database,
/// generated on first use so a fresh checkout just works. PostgreSQL serves many instances,
/// which must share one key, so it needs the setting. The retired shared secret refuses.
/// `env` reads a setting (the process environment, or a test's).
pub fn resolve_signing_key(
    database: &DatabaseUrl,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<(SigningKey, KeySource), ConfigError> {
    if let Some(name) = RETIRED_SECRET_SETTINGS
        .into_iter()
        .find(|name| env(name).is_some())
    {
        return Err(ConfigError::RetiredSecret(name));
    }
    if let Some(path) = env("LINKWELL_SIGNING_KEY_FILE").map(PathBuf::from) {
        let key = SigningKey::read_file(&path)
            .map_err(|e| key_file("LINKWELL_SIGNING_KEY_FILE", &path, e.0))?;
        return Ok((key, KeySource::Configured(path)));
    }
    let path = signing_key_file_for(database).ok_or(ConfigError::NoSigningKey)?;
    let (key, created) = match SigningKey::create_file(&path) {
        Ok(key) => (key, true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let key = SigningKey::read_file(&path)
                .map_err(|e| key_file("the signing key beside the database", &path, e.0))?;
            (key, false)
        }
        Err(e) => {
            return Err(key_file(
                "the signing key beside the database",
                &path,
                e.to_string(),
            ));
        }
    };
    Ok((key, KeySource::BesideDatabase { path, created }))
}

/// `LINKWELL_VERIFY_KEY_FILES`: comma-separated PEM files (public or private) of older keys.
pub fn verify_keys(env: &dyn Fn(&str) -> Option<OsString>) -> Result<Vec<VerifyKey>, ConfigError> {
    let Some(value) = env("LINKWELL_VERIFY_KEY_FILES") else {
        return Ok(Vec::new());
    };
    let value = value.to_string_lossy();
    let paths: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    // The published key set documents at most 16 keys: the signing key and these.
    if paths.len() > MAX_VERIFY_KEYS {
        return Err(ConfigError::Setting {
            name: "LINKWELL_VERIFY_KEY_FILES (at most 15 files)",
            value: value.into_owned(),
        });
    }
    paths
        .into_iter()
        .map(|path| {
            VerifyKey::read_file(path.as_ref())
                .map_err(|e| key_file("LINKWELL_VERIFY_KEY_FILES", path.as_ref(), e.0))
        })
        .collect()
}

/// Older keys still accepted, beside the signing key: the key set's `maxItems` is one more.
pub const MAX_VERIFY_KEYS: usize = 15;

fn key_file(setting: &'static str, path: &std::path::Path, reason: String) -> ConfigError {
    ConfigError::KeyFile {
        setting,
        path: path.display().to_string(),
        reason,
    }
}

/// `linkwell.db` → `linkwell.db.signing-key.pem`, beside it; none for PostgreSQL.
pub fn signing_key_file_for(database: &DatabaseUrl) -> Option<PathBuf> {
    let db = database.sqlite_path()?;
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".signing-key.pem");
    Some(db.with_file_name(name))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn sqlite_in(dir: &std::path::Path) -> DatabaseUrl {
        DatabaseUrl::Sqlite(dir.join("linkwell.db"))
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + use<> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("linkwell-keys-{}", uuid::Uuid::new_v4()));
        assert!(std::fs::create_dir_all(&dir).is_ok());
        dir
    }

    #[test]
    fn the_key_file_sits_beside_the_sqlite_database() {
        let db = DatabaseUrl::Sqlite(PathBuf::from("data/linkwell.db"));
        assert_eq!(
            signing_key_file_for(&db),
            Some(PathBuf::from("data/linkwell.db.signing-key.pem"))
        );
        let pg = DatabaseUrl::Postgres("postgres://localhost/x".into());
        assert_eq!(signing_key_file_for(&pg), None);
    }

    #[test]
    fn a_generated_key_is_private_and_reused() {
        let dir = temp_dir();
        let db = sqlite_in(&dir);
        let env = env_of(&[]);
        let first = resolve_signing_key(&db, &env).map(|(k, s)| (k.kid().to_owned(), s));
        let second = resolve_signing_key(&db, &env).map(|(k, s)| (k.kid().to_owned(), s));
        let path = dir.join("linkwell.db.signing-key.pem");
        let (kid, source) = first.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            source,
            KeySource::BesideDatabase {
                path: path.clone(),
                created: true
            }
        );
        assert_eq!(
            second.ok(),
            Some((
                kid,
                KeySource::BesideDatabase {
                    path: path.clone(),
                    created: false
                }
            ))
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .map(|m| m.permissions().mode() & 0o777)
                .ok();
            assert_eq!(mode, Some(0o600));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_retired_shared_secret_refuses_to_start() {
        let dir = temp_dir();
        for name in RETIRED_SECRET_SETTINGS {
            let env = env_of(&[(name, "a-secret-that-is-at-least-32-bytes-long")]);
            let refused = resolve_signing_key(&sqlite_in(&dir), &env).map(|_| ());
            let message = refused.map_err(|e| e.to_string()).err().unwrap_or_default();
            assert!(message.contains(name), "{message}");
            assert!(
                message.contains("LINKWELL_SIGNING_KEY_FILE") && message.contains("refusing"),
                "{message}"
            );
        }
        assert!(
            !dir.join("linkwell.db.signing-key.pem").exists(),
            "refused before making a key"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_oidc_issuer_and_audience_come_together() {
        let settings = |pairs: &[(&str, &str)]| {
            oidc_settings(&env_of(pairs), DEFAULT_ISSUER).map_err(|e| e.to_string())
        };
        assert_eq!(settings(&[]).ok(), Some(None));
        let issuer = ("LINKWELL_OIDC_ISSUER", "https://idp.example.org/realms/nhs");
        let audience = ("LINKWELL_OIDC_AUDIENCE", "linkwell");
        assert_eq!(
            settings(&[issuer, audience]).ok(),
            Some(Some(OidcSettings {
                issuer: issuer.1.into(),
                audience: audience.1.into()
            }))
        );
        for (alone, missing) in [(issuer, audience.0), (audience, issuer.0)] {
            let message = settings(&[alone]).err().unwrap_or_default();
            assert!(
                message.contains(missing) && message.contains("refusing to start"),
                "{message}"
            );
        }
        let plain = settings(&[("LINKWELL_OIDC_ISSUER", "http://idp.example.org"), audience]);
        assert!(
            plain
                .err()
                .is_some_and(|m| m.contains("LINKWELL_OIDC_ISSUER")),
            "http to a remote host is refused"
        );
        let own = oidc_settings(
            &env_of(&[("LINKWELL_OIDC_ISSUER", "https://lw.example.org"), audience]),
            "https://lw.example.org",
        );
        assert!(
            own.is_err(),
            "the provider cannot share Linkwell's own issuer"
        );
    }

    #[test]
    fn client_tokens_may_not_outlive_what_the_server_accepts() {
        let s = Duration::from_secs;
        assert!(check_client_token_ttl(s(300), s(86_400)).is_ok());
        assert!(check_client_token_ttl(s(600), s(600)).is_ok());
        let refused = check_client_token_ttl(s(601), s(600)).map_err(|e| e.to_string());
        let message = refused.err().unwrap_or_default();
        assert!(
            message.contains("LINKWELL_CLIENT_TOKEN_TTL is 601 s")
                && message.contains("LINKWELL_MAX_TOKEN_TTL, 600 s")
                && message.contains("refusing to start"),
            "{message}"
        );
    }

    #[test]
    fn postgres_needs_a_configured_key() {
        let pg = DatabaseUrl::Postgres("postgres://localhost/x".into());
        let refused = resolve_signing_key(&pg, &env_of(&[])).map(|_| ());
        assert!(matches!(refused, Err(ConfigError::NoSigningKey)));
    }

    #[test]
    fn configured_keys_are_read_and_bad_ones_named() {
        let dir = temp_dir();
        let signing = dir.join("signing.pem");
        let old = dir.join("old.pem");
        let key = SigningKey::create_file(&signing).map_err(|e| e.to_string());
        let old_key = SigningKey::generate();
        let public = old_key.public().to_pem().unwrap_or_default();
        assert!(std::fs::write(&old, public).is_ok());
        let signing_s = signing.display().to_string();
        let verify = format!("{}, ", old.display());
        let env = env_of(&[
            ("LINKWELL_SIGNING_KEY_FILE", &signing_s),
            ("LINKWELL_VERIFY_KEY_FILES", &verify),
        ]);
        let pg = DatabaseUrl::Postgres("postgres://localhost/x".into());
        let read = resolve_signing_key(&pg, &env).map(|(k, s)| (k.kid().to_owned(), s));
        assert_eq!(
            read.ok(),
            Some((
                key.map(|k| k.kid().to_owned()).unwrap_or_default(),
                KeySource::Configured(signing.clone())
            ))
        );
        assert_eq!(verify_keys(&env).ok(), Some(vec![old_key.public().clone()]));

        let missing = env_of(&[("LINKWELL_VERIFY_KEY_FILES", "/nonexistent/old.pem")]);
        let message = verify_keys(&missing).map_err(|e| e.to_string()).err();
        assert!(
            message
                .as_deref()
                .is_some_and(|m| m.contains("LINKWELL_VERIFY_KEY_FILES")
                    && m.contains("/nonexistent/old.pem")),
            "{message:?}"
        );
        assert!(std::fs::write(&old, "not a key").is_ok());
        let env = env_of(&[("LINKWELL_SIGNING_KEY_FILE", &old.display().to_string())]);
        let message = resolve_signing_key(&pg, &env)
            .map(|_| ())
            .map_err(|e| e.to_string())
            .err()
            .unwrap_or_default();
        assert!(message.contains("PKCS#8"), "{message}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
