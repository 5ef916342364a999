//! Building and starting the HTTP server.

use std::net::SocketAddr;
use std::sync::Arc;

use actix_http::{HttpService, Protocol, error::DispatchError};
use actix_service::{IntoServiceFactory, ServiceFactoryExt, fn_service, map_config};
use actix_web::dev::AppConfig;
use actix_web::http::header;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, web};
use linkwell_persistence::{DatabaseUrl, PoolOptions, checkout, connect, migrate};
use tokio::net::TcpStream;
use utoipa_swagger_ui::{Config as DocsConfig, SwaggerUi};

use crate::auth::{KnownOrganisations, TokenKeys};
use crate::config::Config;
use crate::connection_errors::ProblemStream;
use crate::cors::CorsPolicy;
use crate::extract;
use crate::fallback::{self, RouteTable};
use crate::middleware::request_context;
use crate::openapi;
use crate::pagination::CursorKey;
use crate::params::ParameterBounds;
use crate::ratelimit::{Limiter, PublicAccess};
use crate::revocation::{self, Revoked};
use crate::routes;
use crate::state::AppState;

/// How long a client has to send a request's head (request line and headers).
pub const HEAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long an idle keep-alive connection stays open.
pub const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(5);
/// How long a closing connection waits for the client to take the last response.
pub const DISCONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Where the OpenAPI document is served, as JSON.
const OPENAPI_JSON: &str = "/openapi.json";

/// The OpenAPI document, serialised at start-up.
async fn serve_document(json: web::Data<web::Bytes>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(json.get_ref().clone())
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Database(#[from] linkwell_persistence::StoreError),
    #[error(transparent)]
    Cors(#[from] crate::cors::BadOrigin),
    #[error("signing key: {0}")]
    Keys(#[from] crate::signing_keys::KeyError),
    #[error("OpenID Connect: {0}")]
    Oidc(String),
    #[error("loading deactivated users: {0}")]
    Revocation(String),
    #[error("serialising the OpenAPI document: {0}")]
    Document(serde_json::Error),
    #[error("starting the audit writer: {0}")]
    AuditWriter(std::io::Error),
    #[error(
        "the database has {} pending migration(s) ({}) and role {role} may not apply them (it \
         does not own the schema): run `linkwell migrate` as the owner first (its URL in \
         LINKWELL_MIGRATION_DATABASE_URL or --database-url; see docs/database-roles.md); \
         refusing to start",
        pending.len(),
        pending.join(", ")
    )]
    PendingMigrations { role: String, pending: Vec<String> },
    #[error("cannot listen on {bind}: {source}")]
    Bind {
        bind: String,
        source: std::io::Error,
    },
}

/// A started server: await `server` to run it; `addr` is where it listens.
pub struct Running {
    pub server: actix_web::dev::Server,
    /// The server's pool, for background work beside it.
    pub pool: linkwell_persistence::Pool,
    pub addr: SocketAddr,
    /// How many migrations ran at start-up.
    pub migrations_applied: usize,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Connects, migrates, binds; the returned server runs once awaited (or spawned).
pub fn start(config: &Config) -> Result<Running, StartError> {
    let pool = connect(&config.database, &config.pool)?;
    let migrations_applied = {
        let mut conn = checkout(&pool, config.pool.acquire_timeout)?;
        prepare_schema(&mut conn)?
    };
    let bind_error = |source: std::io::Error| StartError::Bind {
        bind: config.bind.clone(),
        source,
    };
    let listener = listen(&config.bind).map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    if let Some(warning) = public_url_warning(config.clients.public_url.as_deref(), addr) {
        log::warn!("{warning}");
    }
    let public_url = config
        .clients
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let audit =
        crate::audit_writer::AuditWriter::start(config.database.clone(), config.pool.lock_timeout)
            .map_err(StartError::AuditWriter)?;
    let writes = match &config.database {
        DatabaseUrl::Sqlite(_) => connect(
            &config.database,
            &PoolOptions {
                max_size: 1,
                ..config.pool.clone()
            },
        )?,
        DatabaseUrl::Postgres(_) => pool.clone(),
    };
    let state = web::Data::new(AppState {
        pool: pool.clone(),
        writes,
        audit,
        tokens: TokenKeys::new(
            &config.signing_key,
            &config.verify_keys,
            &config.issuer,
            &config.audience,
        )?
        .with_max_ttl(config.max_token_ttl),
        // Derived from the signing key: a new key also makes outstanding cursors stale.
        cursors: CursorKey::derive(&config.signing_key.secret_bytes()),
        links: crate::routes::action_links::LinkKey::derive(&config.signing_key.secret_bytes()),
        db_timeout: config.pool.acquire_timeout,
        revoked: Revoked::default(),
        public: PublicAccess::new(
            config.public_rate_per_minute,
            config.trusted_proxies.clone(),
        ),
        callers: Limiter::new("default", config.rate_per_minute),
        refused: Limiter::new("refused", config.rate_per_minute),
        probes: Limiter::new("probe", config.probe_rate_per_minute),
        cors: CorsPolicy::new(&config.cors_origins)?,
        min_age: config.min_age,
        meaningful_change_hundredths: config.meaningful_change_hundredths,
        body_timeout: config.body_timeout,
        organisations: KnownOrganisations::default(),
        token_endpoint: format!("{public_url}/v1/auth/token"),
        client_token_seconds: i64::try_from(config.clients.ttl.as_secs()).unwrap_or(i64::MAX),
        oidc: config
            .oidc
            .clone()
            .map(crate::oidc::Provider::new)
            .transpose()
            .map_err(StartError::Oidc)?,
        secret_checks: crate::secret_checks::SecretChecks::new(config.clients.secret_checks),
    });
    state
        .revoked
        .reload(&pool, config.pool.acquire_timeout)
        .map_err(StartError::Revocation)?;
    revocation::spawn_refresher(
        Arc::downgrade(&state.clone().into_inner()),
        config.revocation_refresh,
    );
    crate::expiry::spawn(Arc::downgrade(&state.clone().into_inner()), config.expiry);
    crate::totals::spawn(
        Arc::downgrade(&state.clone().into_inner()),
        config.totals_fold_every,
    );
    let document = openapi::document();
    let routes = web::Data::new(RouteTable::from_openapi(&document));
    let parameter_bounds = web::Data::new(ParameterBounds::from_openapi(&document));

    // Serialised once: every worker serves these bytes.
    let document_json = web::Data::new(web::Bytes::from(
        serde_json::to_vec(&document).map_err(StartError::Document)?,
    ));
    drop(document);

    let app = move || {
        App::new()
            .app_data(state.clone())
            .app_data(routes.clone())
            .app_data(parameter_bounds.clone())
            .app_data(document_json.clone())
            .app_data(web::QueryConfig::default().error_handler(extract::query_error))
            .app_data(web::PathConfig::default().error_handler(extract::path_error))
            .wrap(from_fn(request_context))
            .configure(routes::mount)
            .route(OPENAPI_JSON, web::get().to(serve_document))
            .service(
                SwaggerUi::new("/docs/{_:.*}")
                    // No call-out to the public spec validator: the docs work offline.
                    .config(
                        DocsConfig::new([OPENAPI_JSON])
                            .validator_url("none")
                            .try_it_out_enabled(true),
                    ),
            )
            .route(
                "/docs",
                web::get().to(|| async {
                    HttpResponse::PermanentRedirect()
                        .insert_header((header::LOCATION, "/docs/"))
                        .finish()
                }),
            )
            .default_service(web::to(fallback::not_matched))
    };
    // What `actix_web::HttpServer` assembles, with each connection wrapped so that the
    // answers actix-http writes itself are problem details too (`connection_errors`).
    // Each worker's blocking pool runs the database work, which waits for one of the pool's
    // connections anyway: threads beyond that number (tokio's default is 512 / workers) only
    // idle, each with a malloc arena of its own. Two more than the pool for password hashing.
    let blocking = usize::try_from(config.pool.max_size)
        .unwrap_or(usize::MAX)
        .saturating_add(2);
    let mut builder = actix_server::Server::build()
        .shutdown_timeout(10)
        .worker_max_blocking_threads(blocking);
    if let Some(workers) = config.workers {
        builder = builder.workers(workers);
    }
    let server = builder
        .listen("linkwell", listener, move || {
            let app = app().into_factory();
            // A connection is a file descriptor: none may be held open by a client that
            // stopped talking. The request head must arrive within 5 s (else 408 and close,
            // written by actix-http itself); the body within `body_timeout` (else 408 from
            // `extract`); an idle keep-alive connection closes after 5 s; and a connection
            // being closed gets 1 s to take the last response before it is dropped.
            let http = HttpService::build()
                .client_request_timeout(HEAD_TIMEOUT)
                .keep_alive(KEEP_ALIVE)
                .client_disconnect_timeout(DISCONNECT_TIMEOUT)
                .local_addr(addr)
                .finish(map_config(app, move |_| {
                    AppConfig::__priv_test_new(false, addr.to_string(), addr)
                }));
            fn_service(|io: TcpStream| async move {
                let peer = io.peer_addr().ok();
                Ok::<_, DispatchError>((ProblemStream::new(io), Protocol::Http1, peer))
            })
            .and_then(http)
        })
        .map_err(bind_error)?
        .run();
    Ok(Running {
        server,
        pool,
        addr,
        migrations_applied,
    })
}

/// Brings the schema up to date when this role may (one role for everything, as in
/// development and on SQLite); a runtime role that does not own the schema only checks that
/// nothing is pending, so a server never starts against a schema it does not know, nor fails
/// half-way through a migration it may not run. Returns how many migrations ran.
fn prepare_schema(conn: &mut linkwell_persistence::DbConnection) -> Result<usize, StartError> {
    use linkwell_persistence::roles;
    if roles::can_migrate(conn)? {
        return Ok(migrate::run(conn)?);
    }
    let pending = migrate::pending(conn)?;
    if !pending.is_empty() {
        return Err(StartError::PendingMigrations {
            role: roles::current_role(conn)?.unwrap_or_default(),
            pending,
        });
    }
    Ok(0)
}

/// Without `LINKWELL_PUBLIC_URL` the token endpoint expects assertions addressed to
/// `http://{addr}`: right on a developer's loopback, wrong for anyone reaching the server from
/// outside, whose assertions name the public URL and would all be refused.
pub fn public_url_warning(public_url: Option<&str>, addr: SocketAddr) -> Option<String> {
    if public_url.is_some() || addr.ip().to_canonical().is_loopback() {
        return None;
    }
    Some(format!(
        "LINKWELL_PUBLIC_URL is not set: signed client assertions must name \
         http://{addr}/v1/auth/token as their aud, and systems reaching this server by its public \
         URL will be refused; set LINKWELL_PUBLIC_URL to the base URL clients use"
    ))
}

/// A listening socket on `bind`, as `actix_web::HttpServer::bind` makes one: the address
/// reusable at once after a restart, a backlog of 1024.
fn listen(bind: &str) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let addr = std::net::ToSocketAddrs::to_socket_addrs(bind)?
        .next()
        .ok_or_else(|| std::io::Error::other("the address resolves to nothing"))?;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_beyond_loopback_without_a_public_url_is_warned_of() {
        let addr = |s: &str| s.parse::<SocketAddr>().ok();
        for quiet in ["127.0.0.1:8080", "[::1]:8080"] {
            let addr = addr(quiet).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 1)));
            assert_eq!(public_url_warning(None, addr), None, "{quiet}");
        }
        for open in ["0.0.0.0:8080", "[::]:8080", "10.1.2.3:80"] {
            let addr = addr(open).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 1)));
            let warning = public_url_warning(None, addr).unwrap_or_default();
            assert!(warning.contains("LINKWELL_PUBLIC_URL"), "{open}: {warning}");
            assert!(warning.contains(&addr.to_string()), "{open}: {warning}");
            let set = public_url_warning(Some("https://linkwell.example.org"), addr);
            assert_eq!(set, None, "{open}");
        }
    }
}
