//! The `linkwell` command line: serve (the default), migrate, openapi, token, keygen, …

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use linkwell_domain::Role;
use linkwell_persistence::{DbConnection, Pool, checkout, establish, migrate, roles, users};
use uuid::Uuid;

use crate::auth::TokenKeys;
use crate::config::{Config, DEFAULT_BIND, DEFAULT_DATABASE_URL};
use crate::signing_keys::SigningKey;
use crate::{idempotency, openapi, server};

/// Linkwell: an API-first backend for social prescribing.
#[derive(Debug, Parser)]
#[command(name = "linkwell", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `sqlite://PATH` (the default: a file in the working directory) or a `postgres://` URL.
    #[arg(long, global = true, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    database_url: String,
    /// Address to listen on.
    #[arg(long, global = true, env = "LINKWELL_BIND", default_value = DEFAULT_BIND)]
    bind: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply pending database migrations and exit (as the schema's owner, when the server
    /// runs as another role: see docs/database-roles.md).
    Migrate(MigrateArgs),
    /// Print the OpenAPI document as YAML.
    Openapi,
    /// Print a signed access token (for development, scripts and tests).
    Token(TokenArgs),
    /// Write a new ES256 (P-256) signing key, PKCS#8 PEM, readable by its owner only
    /// (for `LINKWELL_SIGNING_KEY_FILE`).
    Keygen(KeygenArgs),
    /// Fill the database with a realistic synthetic data set (test-range NHS numbers only),
    /// for benchmarks and report trials.
    Seed(SeedArgs),
    /// Expire the connection requests left unanswered past the response window, once (the
    /// server also does this periodically); safe beside running servers.
    Expire(ExpireArgs),
    /// Make the report totals afresh from the records (after writes by a release that did not
    /// keep them, e.g. during a rolling upgrade); writers wait meanwhile.
    Retotal,
    /// Anonymise referrals closed more than `LINKWELL_RETENTION_YEARS` (default 8) ago, and
    /// erase people with nothing left within retention; prints the counts as JSON. Safe
    /// beside running servers, and idempotent.
    Purge(PurgeArgs),
}

#[derive(Debug, Args)]
struct PurgeArgs {
    /// Count what would be anonymised, and change nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
struct MigrateArgs {
    /// PostgreSQL: after migrating, give this role exactly what the server needs (read and
    /// write the tables; only read and append to the audit trail), taking away anything else
    /// it had on them. Run after every migration, so new tables are covered.
    #[arg(long, env = "LINKWELL_RUNTIME_ROLE")]
    runtime_role: Option<String>,
}

/// Where `migrate` connects: `--database-url` if given, else `LINKWELL_MIGRATION_DATABASE_URL`
/// (the owner's URL, kept apart from the server's `DATABASE_URL`), else `DATABASE_URL`.
const MIGRATION_DATABASE_URL: &str = "LINKWELL_MIGRATION_DATABASE_URL";

#[derive(Debug, Args)]
struct SeedArgs {
    /// How many referrals (with their people, sessions, plans, connections and measures).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    referrals: u64,
    /// The same seed makes the same data (ids and times aside).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Debug, Args)]
struct ExpireArgs {
    /// Act as if it were this time (RFC 3339), e.g. to test the window; now by default.
    #[arg(long)]
    at: Option<String>,
}

#[derive(Debug, Args)]
struct KeygenArgs {
    /// The file to write; an existing file is never overwritten.
    #[arg(long)]
    out: std::path::PathBuf,
}

#[derive(Debug, Args)]
struct TokenArgs {
    /// A registered user's id: the token acts as that user, with the role and organisation of
    /// their record (read from the database).
    #[arg(long, conflicts_with_all = ["role", "sub", "org"])]
    user: Option<Uuid>,
    /// admin, coordinator, referrer, partner or commissioner.
    #[arg(long, required_unless_present = "user")]
    role: Option<String>,
    /// Who the token is for (a system or script name; not a registered user).
    #[arg(long, required_unless_present = "user")]
    sub: Option<String>,
    /// The organisation id a referrer or partner acts for.
    #[arg(long)]
    org: Option<Uuid>,
    /// Lifetime in seconds, at most what the server accepts (`LINKWELL_MAX_TOKEN_TTL`,
    /// default 24 h).
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(i64).range(1..))]
    ttl: i64,
}

/// Runs the command line; the exit code says how it went.
pub fn run() -> ExitCode {
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let url_given =
        matches.value_source("database_url") == Some(clap::parser::ValueSource::CommandLine);
    let cli =
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => openapi::yaml().map(|yaml| print!("{yaml}")),
        Command::Keygen(args) => keygen(&args),
        Command::Serve => Config::from_env(&cli.bind, &cli.database_url)
            .map_err(|e| e.to_string())
            .and_then(|config| serve(&config)),
        Command::Migrate(args) => {
            let url = std::env::var(MIGRATION_DATABASE_URL)
                .ok()
                .filter(|url| !url_given && !url.is_empty())
                .unwrap_or(cli.database_url);
            Config::from_env_without_keys(&cli.bind, &url)
                .map_err(|e| e.to_string())
                .and_then(|config| migrate_only(&config, &args))
        }
        Command::Token(args) => Config::from_env(&cli.bind, &cli.database_url)
            .map_err(|e| e.to_string())
            .and_then(|config| token(&config, &args)),
        Command::Seed(args) => Config::from_env_without_keys(&cli.bind, &cli.database_url)
            .map_err(|e| e.to_string())
            .and_then(|config| seed(&config, &args)),
        Command::Expire(args) => Config::from_env_without_keys(&cli.bind, &cli.database_url)
            .map_err(|e| e.to_string())
            .and_then(|config| expire(&config, &args)),
        Command::Retotal => Config::from_env_without_keys(&cli.bind, &cli.database_url)
            .map_err(|e| e.to_string())
            .and_then(|config| retotal(&config)),
        Command::Purge(args) => Config::from_env_without_keys(&cli.bind, &cli.database_url)
            .map_err(|e| e.to_string())
            .and_then(|config| purge(&config, &args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            log::error!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: &Config) -> Result<(), String> {
    raise_open_files_limit();
    actix_web::rt::System::new().block_on(async {
        let running = server::start(config).map_err(|e| e.to_string())?;
        println!(
            "linkwell {} listening on http://{}",
            env!("CARGO_PKG_VERSION"),
            running.addr
        );
        println!(
            "database: {} ({} migrations applied)",
            config.database, running.migrations_applied
        );
        println!(
            "signing key: ES256, kid {}, {}",
            config.signing_key.kid(),
            config.key_source
        );
        for key in &config.verify_keys {
            println!("verify key: kid {} (LINKWELL_VERIFY_KEY_FILES)", key.kid());
        }
        if let Some(oidc) = &config.oidc {
            println!(
                "OpenID Connect: tokens from {} for audience {} act as linked users",
                oidc.issuer, oidc.audience
            );
        }
        println!("API docs: http://{}/docs/", running.addr);
        spawn_housekeeping(running.pool.clone());
        running.server.await.map_err(|e| e.to_string())
    })
}

/// Every connection holds a file descriptor. At the soft limit (1,024 on most Linux systems,
/// 256 on macOS) accepting fails and the server answers nobody, probes included, so a few
/// hundred slow clients were enough to take it off the air. The soft limit is raised to the
/// hard one, as the process may; the body and head timeouts make each slow client let go.
fn raise_open_files_limit() {
    #[cfg(unix)]
    {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        match getrlimit(Resource::RLIMIT_NOFILE) {
            Ok((soft, hard)) if soft < hard => {
                match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                    Ok(()) => log::info!("open files limit raised from {soft} to {hard}"),
                    Err(e) => log::warn!("open files limit stays {soft}: {e}"),
                }
            }
            Ok(_) => {}
            Err(e) => log::warn!("cannot read the open files limit: {e}"),
        }
    }
}

/// Forgets stored idempotent responses past retention, hourly, off the request path; a
/// failure is logged and tried again at the next round.
fn spawn_housekeeping(pool: Pool) {
    std::thread::spawn(move || {
        loop {
            let purged = checkout(&pool, Duration::from_secs(5))
                .map_err(|e| e.to_string())
                .and_then(|mut conn| idempotency::purge(&mut conn).map_err(|e| e.to_string()));
            match purged {
                Ok(0) => {}
                Ok(n) => log::info!("forgot {n} idempotency keys past retention"),
                Err(e) => log::warn!("idempotency purge failed, retrying in an hour: {e}"),
            }
            std::thread::sleep(Duration::from_secs(3600));
        }
    });
}

/// One connection for a one-off command. Not a pool: a pool keeps background threads that
/// may still be opening a PostgreSQL connection when the command exits, and libpq tearing
/// down under them crashed the process (SIGSEGV) after its output was written.
fn one_connection(config: &Config) -> Result<DbConnection, String> {
    establish(&config.database).map_err(|e| format!("database {}: {e}", config.database))
}

fn migrate_only(config: &Config, args: &MigrateArgs) -> Result<(), String> {
    let mut conn = one_connection(config)?;
    let applied = migrate::run(&mut conn).map_err(|e| e.to_string())?;
    migrate::make_totals(&mut conn).map_err(|e| e.to_string())?;
    println!(
        "database: {} ({applied} migrations applied)",
        config.database
    );
    if let Some(role) = args.runtime_role.as_deref().filter(|r| !r.is_empty()) {
        roles::grant_runtime(&mut conn, role).map_err(|e| e.to_string())?;
        println!(
            "runtime role {role}: may read and write the tables; on audit_events SELECT and \
             INSERT only"
        );
    }
    Ok(())
}

fn seed(config: &Config, args: &SeedArgs) -> Result<(), String> {
    use std::io::Write as _;
    let mut conn = one_connection(config)?;
    migrate::run(&mut conn).map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    let plan = linkwell_persistence::seed::Plan {
        referrals: args.referrals,
        seed: args.seed,
        now: crate::clock::now(),
    };
    let made = linkwell_persistence::seed::seed(&mut conn, plan, |done, total| {
        let width = 30;
        let filled = usize::try_from(done * width / total.max(1)).unwrap_or(0);
        let bar = format!("{}{}", "#".repeat(filled), ".".repeat(30 - filled.min(30)));
        let seconds = started.elapsed().as_secs_f64();
        let rate = done as f64 / seconds.max(0.001);
        eprint!("\r[{bar}] {done}/{total} referrals, {seconds:.0} s, {rate:.0}/s ");
        if done == total {
            eprint!("\ntotalling for reports… ");
        }
        let _ = std::io::stderr().flush();
    })
    .map_err(|e| e.to_string())?;
    eprintln!();
    println!(
        "seeded {} referrals, {} people, {} sessions, {} connections, {} outcome measures ({} rows; {} report totals) in {:.1} s",
        made.referrals,
        made.people,
        made.sessions,
        made.connections,
        made.outcomes,
        made.rows,
        made.totals,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn expire(config: &Config, args: &ExpireArgs) -> Result<(), String> {
    let now = match &args.at {
        Some(at) => chrono::DateTime::parse_from_rfc3339(at)
            .map_err(|e| format!("--at {at}: {e}"))?
            .with_timezone(&chrono::Utc),
        None => crate::clock::now(),
    };
    let mut conn = one_connection(config)?;
    migrate::run(&mut conn).map_err(|e| e.to_string())?;
    let expired = crate::expiry::run_once(&mut conn, now, config.expiry.window)
        .map_err(|e| format!("{e:?}"))?;
    println!(
        "expired {expired} connection requests unanswered for {} days",
        config.expiry.window.num_days()
    );
    Ok(())
}

fn retotal(config: &Config) -> Result<(), String> {
    let started = std::time::Instant::now();
    let mut conn = one_connection(config)?;
    migrate::run(&mut conn).map_err(|e| e.to_string())?;
    let rows = linkwell_persistence::tallies::rebuild(&mut conn).map_err(|e| e.to_string())?;
    println!(
        "made {rows} report totals afresh in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn purge(config: &Config, args: &PurgeArgs) -> Result<(), String> {
    let years = retention_years()?;
    let mut conn = one_connection(config)?;
    migrate::run(&mut conn).map_err(|e| e.to_string())?;
    let counts = crate::purge::run(&mut conn, crate::clock::now(), years, args.dry_run)
        .map_err(|e| format!("{e:?}"))?;
    println!(
        "{}",
        serde_json::to_string(&counts).map_err(|e| e.to_string())?
    );
    Ok(())
}

/// `LINKWELL_RETENTION_YEARS`: whole years, 1 to 100; 8 when unset. Anything else refuses to
/// run rather than guess how much to delete.
fn retention_years() -> Result<u32, String> {
    use linkwell_domain::privacy;
    match std::env::var("LINKWELL_RETENTION_YEARS") {
        Err(std::env::VarError::NotPresent) => Ok(privacy::DEFAULT_RETENTION_YEARS),
        Err(e) => Err(format!("LINKWELL_RETENTION_YEARS: {e}")),
        Ok(value) => privacy::retention_years(&value)
            .map_err(|e| format!("LINKWELL_RETENTION_YEARS={value:?}: {}", e.message)),
    }
}

fn token(config: &Config, args: &TokenArgs) -> Result<(), String> {
    let (role, sub, org) = match args.user {
        Some(id) => registered_user(config, id)?,
        None => {
            let role: Role = args.role.as_deref().unwrap_or_default().parse().map_err(
                |e: linkwell_domain::UnknownCode| {
                    format!("{e}; expected one of: {}", Role::CODES.join(", "))
                },
            )?;
            let sub = args.sub.clone().unwrap_or_default();
            (role, sub, args.org)
        }
    };
    if role.needs_org() && org.is_none() {
        return Err(format!("a {role} token needs --org ORG_ID"));
    }
    crate::auth::check_subject(&sub).map_err(|problem| format!("--sub: {problem}"))?;
    let keys = TokenKeys::new(
        &config.signing_key,
        &config.verify_keys,
        &config.issuer,
        &config.audience,
    )
    .map_err(|e| e.to_string())?
    .with_max_ttl(config.max_token_ttl);
    if args.ttl > keys.max_ttl_seconds() {
        return Err(format!(
            "--ttl {}: the server accepts tokens living at most {} s (LINKWELL_MAX_TOKEN_TTL)",
            args.ttl,
            keys.max_ttl_seconds()
        ));
    }
    let token = keys
        .issue(role, &sub, org, args.ttl)
        .map_err(|e| e.to_string())?;
    println!("{token}");
    Ok(())
}

fn keygen(args: &KeygenArgs) -> Result<(), String> {
    let key = SigningKey::create_file(&args.out).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => format!(
            "{} exists; keygen never overwrites a key (tokens signed with it would stop working)",
            args.out.display()
        ),
        _ => format!("{}: {e}", args.out.display()),
    })?;
    println!(
        "wrote ES256 signing key kid {} to {} (mode 0600)",
        key.kid(),
        args.out.display()
    );
    Ok(())
}

/// A registered, active user's role, id (the token's subject) and organisation.
fn registered_user(config: &Config, id: Uuid) -> Result<(Role, String, Option<Uuid>), String> {
    let mut conn = one_connection(config)?;
    migrate::run(&mut conn).map_err(|e| e.to_string())?;
    let user = users::get(&mut conn, id)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no user {id} in {}", config.database))?;
    if !user.active {
        return Err(format!("user {id} is deactivated"));
    }
    Ok((user.role, user.id.to_string(), user.org_id))
}
