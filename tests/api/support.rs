//! Spawns the real app on a free port over a fresh database, and talks to it over HTTP.
//!
//! The backend is SQLite unless `TEST_BACKEND=postgres`, in which case each test gets its own
//! database on the server at `TEST_DATABASE_URL`, dropped when the test ends.

use std::time::Duration;

use diesel::{Connection, PgConnection, RunQueryDsl};
use linkwell_api::auth::{Claims, TokenKeys};
use linkwell_api::config::{Config, KeySource};
use linkwell_api::server;
use linkwell_api::signing_keys::SigningKey;
use linkwell_domain::Role;
use linkwell_persistence::{DatabaseUrl, DbConnection, PoolOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

pub const ISSUER: &str = "linkwell";
pub const AUDIENCE: &str = "linkwell-api";

/// Where a test's data lives; cleaned up on drop.
enum Store {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres {
        admin_url: String,
        name: String,
    },
    /// Another instance's: that instance cleans up.
    Shared,
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Store::Postgres { admin_url, name } = self
            && let Ok(mut conn) = PgConnection::establish(admin_url)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

/// A running app and a client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub database: DatabaseUrl,
    pub keys: TokenKeys,
    /// The app's signing key, and the same key as a PEM file (for the `linkwell` binary).
    pub signing_key: SigningKey,
    pub key_file: std::path::PathBuf,
    handle: actix_web::dev::ServerHandle,
    _store: Store,
    _key_dir: tempfile::TempDir,
}

/// Which backend the suite runs against.
pub fn backend() -> &'static str {
    match std::env::var("TEST_BACKEND").as_deref() {
        Ok("postgres") => "postgres",
        _ => "sqlite",
    }
}

fn fresh_store() -> (DatabaseUrl, Store) {
    if backend() == "postgres" {
        let admin_url = admin_url();
        let name = format!("linkwell_test_{}", Uuid::new_v4().simple());
        let mut conn = PgConnection::establish(&admin_url).expect("connect to TEST_DATABASE_URL");
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .expect("create a test database");
        let url = with_database(&admin_url, &name);
        let store = Store::Postgres { admin_url, name };
        (DatabaseUrl::Postgres(url), store)
    } else {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("linkwell.db");
        (DatabaseUrl::Sqlite(path), Store::Sqlite(dir))
    }
}

/// `TEST_DATABASE_URL`, without TLS (see [`without_tls`]).
pub fn admin_url() -> String {
    without_tls(
        &std::env::var("TEST_DATABASE_URL").expect("TEST_BACKEND=postgres needs TEST_DATABASE_URL"),
    )
}

/// The URL with `sslmode=disable` unless it names a mode. The suite's server is local, and
/// libpq's default (`prefer`) brings OpenSSL into every connection: a background job still
/// inside one when the test process exits could crash OpenSSL's teardown (SIGSEGV after every
/// test had passed).
fn without_tls(url: &str) -> String {
    if url.contains("sslmode=") {
        return url.to_owned();
    }
    let joiner = if url.contains('?') { '&' } else { '?' };
    format!("{url}{joiner}sslmode=disable")
}

/// The same server URL with another database name.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// An app with some settings changed.
    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> Self {
        let (database, store) = fresh_store();
        Self::start(database, store, SigningKey::generate(), configure)
    }

    /// A second instance of the app over this one's database (as behind a load balancer).
    pub async fn another_instance(&self) -> Self {
        Self::start(
            self.database.clone(),
            Store::Shared,
            self.signing_key.clone(),
            |_| {},
        )
    }

    fn start(
        database: DatabaseUrl,
        store: Store,
        signing_key: SigningKey,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let mut config = Config {
            bind: "127.0.0.1:0".into(),
            database: database.clone(),
            signing_key: signing_key.clone(),
            key_source: KeySource::Given,
            verify_keys: Vec::new(),
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            pool: PoolOptions {
                max_size: 4,
                acquire_timeout: Duration::from_secs(5),
                lock_timeout: linkwell_persistence::connection::DEFAULT_LOCK_TIMEOUT,
            },
            workers: Some(1),
            revocation_refresh: Duration::from_millis(200),
            public_rate_per_minute: linkwell_api::config::DEFAULT_PUBLIC_RATE_PER_MINUTE,
            trusted_proxies: Vec::new(),
            rate_per_minute: linkwell_api::config::DEFAULT_RATE_PER_MINUTE,
            probe_rate_per_minute: linkwell_api::config::DEFAULT_PROBE_RATE_PER_MINUTE,
            cors_origins: Vec::new(),
            min_age: 16,
            expiry: linkwell_api::expiry::Policy {
                window: chrono::Duration::days(14),
                every: std::time::Duration::from_secs(60),
            },
            // Once at start, then rarely (as the expiry): a job busy on the database when
            // the test process exits can crash libpq's teardown. Tests of the job set it.
            totals_fold_every: Duration::from_secs(60),
            meaningful_change_hundredths: 300,
            body_timeout: linkwell_api::config::DEFAULT_BODY_TIMEOUT,
            max_token_ttl: linkwell_api::config::DEFAULT_MAX_TOKEN_TTL,
            clients: Default::default(),
            oidc: None,
        };
        configure(&mut config);
        let key_dir = tempfile::tempdir().expect("temp dir");
        let key_file = key_dir.path().join("signing-key.pem");
        std::fs::write(&key_file, signing_key.to_pem().expect("pem").as_bytes()).expect("key file");
        let running = server::start(&config).expect("start the app");
        let handle = running.server.handle();
        tokio::spawn(running.server);
        Self {
            base: format!("http://{}", running.addr),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http client"),
            database,
            keys: TokenKeys::new(&config.signing_key, &config.verify_keys, ISSUER, AUDIENCE)
                .expect("keys"),
            signing_key: config.signing_key.clone(),
            key_file,
            handle,
            _store: store,
            _key_dir: key_dir,
        }
    }

    /// A token for `role`; referrers and partners get `org`.
    pub fn token(&self, role: Role, org: Option<Uuid>) -> String {
        self.keys
            .issue(role, &format!("{role}-user"), org, 600)
            .expect("token")
    }

    /// A token for `role` that acts for a newly registered organisation of a kind the role may
    /// act for (referrers: a GP practice; partners: a partner), or for none.
    pub async fn member(&self, role: Role) -> String {
        let org = match role {
            Role::Referrer => Some(self.organisation("Member practice", "gp_practice").await),
            Role::Partner => Some(self.organisation("Member partner", "partner").await),
            _ => None,
        };
        self.token(role, org)
    }

    pub fn admin(&self) -> String {
        self.token(Role::Admin, None)
    }

    pub fn coordinator(&self) -> String {
        self.token(Role::Coordinator, None)
    }

    pub fn referrer(&self, org: Uuid) -> String {
        self.token(Role::Referrer, Some(org))
    }

    /// Signs arbitrary claims with the app's key.
    pub fn sign(&self, claims: &Claims) -> String {
        self.keys.sign(claims).expect("sign")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request; `token` and `body` are optional.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Reply::from(request.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Registers an organisation and returns its id.
    pub async fn organisation(&self, name: &str, kind: &str) -> Uuid {
        let reply = self
            .post(
                "/v1/organisations",
                &self.admin(),
                &json!({"name": name, "kind": kind}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.id()
    }

    /// Sends a request with extra headers.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Reply::from(request.send().await.expect("request")).await
    }

    /// Sends `body` to `path` with `If-Match: "version"`.
    pub async fn change(
        &self,
        method: Method,
        path: &str,
        token: &str,
        version: i64,
        body: Option<&Value>,
    ) -> Reply {
        let etag = format!("\"{version}\"");
        self.send(method, path, token, body, &[("if-match", &etag)])
            .await
    }

    /// Moves referral `id` (currently at `version`) as `token`.
    pub async fn transition(&self, id: Uuid, token: &str, version: i64, body: &Value) -> Reply {
        let path = format!("/v1/referrals/{id}/transitions");
        self.change(Method::POST, &path, token, version, Some(body))
            .await
    }

    /// Registers a user; returns its id and a token acting as it.
    pub async fn user(&self, role: Role, org: Option<Uuid>) -> (Uuid, String) {
        let email = format!("{}@example.org", Uuid::new_v4().simple());
        let reply = self
            .post(
                "/v1/users",
                &self.admin(),
                &json!({"email": email, "display_name": format!("A {role}"), "role": role.as_str(), "org_id": org}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        let id = reply.id();
        let token = self
            .keys
            .issue(*role_of(&reply), &id.to_string(), org, 600)
            .expect("token");
        (id, token)
    }

    /// Sends a valid referral as `token`; returns the reply.
    pub async fn refer(&self, token: &str, body: &Value) -> Reply {
        self.post("/v1/referrals", token, body).await
    }

    /// A referral from `org`'s GP system, accepted by staff: the state work with the person
    /// starts in. Returns its id (at version 2).
    pub async fn accepted(&self, org: Uuid, reference: &str) -> Uuid {
        let id = self
            .refer(&self.referrer(org), &referral_body(reference))
            .await
            .id();
        let reply = self
            .transition(id, &self.coordinator(), 1, &json!({"to": "accepted"}))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        id
    }

    /// A direct database connection, for checking what was stored.
    pub fn db(&self) -> DbConnection {
        linkwell_persistence::establish(&self.database).expect("database connection")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop accepting; the database is dropped after (FORCE ends lingering connections).
        drop(self.handle.stop(false));
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Reply {
    /// Reads a response sent with the client directly.
    pub async fn from_response(response: reqwest::Response) -> Self {
        Self::from(response).await
    }

    async fn from(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            text,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn id(&self) -> Uuid {
        self.body["id"]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .unwrap_or_else(|| panic!("no id in {}", self.text))
    }

    /// Asserts a problem+json error with this status and code; returns the body.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        assert_eq!(self.body["status"], json!(status), "{}", self.text);
        assert_eq!(self.body["code"], json!(code), "{}", self.text);
        assert_eq!(
            self.body["type"],
            json!(format!(
                "https://linkwell.dev/problems/{}",
                code.replace('_', "-")
            ))
        );
        assert!(self.body["title"].is_string());
        assert!(self.body["detail"].is_string());
        assert_eq!(
            self.body["instance"].as_str(),
            self.header("x-request-id"),
            "instance is the request id"
        );
        &self.body
    }

    /// The `(pointer or parameter, code)` pairs of a problem's field errors.
    pub fn field_errors(&self) -> Vec<(String, String)> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        let at = e["pointer"]
                            .as_str()
                            .or(e["parameter"].as_str())
                            .unwrap_or("");
                        (at.to_owned(), e["code"].as_str().unwrap_or("").to_owned())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn role_of(reply: &Reply) -> &'static Role {
    let role = reply.body["role"].as_str().unwrap_or_default();
    Role::ALL
        .iter()
        .find(|r| r.as_str() == role)
        .expect("a role")
}

/// A valid referral body; `external_reference` makes it unique.
pub fn referral_body(external_reference: &str) -> Value {
    json!({
        "person": {
            "given_name": "Sam",
            "family_name": "Jones",
            "date_of_birth": "1950-02-28",
            "nhs_number": "999 000 0018",
            "phone": "01284 123456",
            "email": "sam.jones@example.org",
            "postcode": "ip33 3nd",
            "address": "1 Abbey Gate, Bury St Edmunds",
            "preferred_contact": "phone"
        },
        "source": "gp_practice",
        "reasons": ["loneliness", "money_and_benefits"],
        "summary": "Lives alone since bereavement; worried about bills.",
        "consent_to_share": true,
        "external_reference": external_reference
    })
}
