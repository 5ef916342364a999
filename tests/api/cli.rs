//! The `linkwell` binary itself: start-up, signing keys, tokens, the contract command.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use diesel::{Connection, PgConnection, RunQueryDsl};
use linkwell_api::auth::TokenKeys;
use linkwell_api::signing_keys::SigningKey;
use linkwell_domain::Role;

use crate::support::{AUDIENCE, ISSUER, backend, with_database};

/// `target/debug/linkwell`, beside this test binary's `deps/` folder.
/// The app's database as a `--database-url` argument.
pub(crate) fn database_url(app: &crate::support::TestApp) -> String {
    match &app.database {
        linkwell_persistence::DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
        linkwell_persistence::DatabaseUrl::Postgres(url) => url.clone(),
    }
}

pub(crate) fn linkwell() -> Command {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path: PathBuf = dir.join("linkwell");
    // `cargo test` builds only test harnesses; `make test` builds the binary first.
    assert!(
        path.exists(),
        "{} is missing: run `make test`, or `cargo build --bins` before `cargo test`",
        path.display()
    );
    let mut command = Command::new(path);
    command
        .env_remove("LINKWELL_JWT_SECRET")
        .env_remove("DATABASE_URL")
        .env_remove("LINKWELL_MIGRATION_DATABASE_URL")
        .env_remove("LINKWELL_RUNTIME_ROLE")
        .env_remove("LINKWELL_CLIENT_TOKEN_TTL")
        .env_remove("LINKWELL_MAX_TOKEN_TTL")
        .env_remove("LINKWELL_JWT_SECRET_FILE")
        .env_remove("LINKWELL_SIGNING_KEY_FILE")
        .env_remove("LINKWELL_VERIFY_KEY_FILES")
        .env("RUST_LOG", "warn");
    command
}

/// The file's permission bits.
#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_fresh_directory_gets_a_private_key_and_working_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let output = linkwell()
        .current_dir(dir.path())
        .args(["token", "--role", "admin", "--sub", "alice"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap();
    let key_path = dir.path().join("linkwell.db.signing-key.pem");
    #[cfg(unix)]
    assert_eq!(mode(&key_path), 0o600);
    let key = SigningKey::from_pem(&std::fs::read_to_string(&key_path).unwrap()).unwrap();
    let keys = TokenKeys::new(&key, &[], ISSUER, AUDIENCE).unwrap();
    let caller = keys.verify(token.trim()).unwrap();
    assert_eq!(
        (caller.role, caller.sub.as_str(), caller.org),
        (Role::Admin, "alice", None)
    );
    // The key is made once: the next token is signed by the same one.
    let again = linkwell()
        .current_dir(dir.path())
        .args(["token", "--role", "admin", "--sub", "bob"])
        .output()
        .unwrap();
    let again = String::from_utf8(again.stdout).unwrap();
    assert_eq!(keys.verify(again.trim()).unwrap().sub, "bob");
}

#[test]
fn keygen_writes_a_private_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signing.pem");
    let output = linkwell()
        .args(["keygen", "--out", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    let pem = std::fs::read_to_string(&path).unwrap();
    let key = SigningKey::from_pem(&pem).unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(key.kid()), "{stdout}");
    assert!(!stdout.contains("PRIVATE"), "{stdout}");
    // Never over an existing key.
    let again = linkwell()
        .args(["keygen", "--out", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwrites"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), pem);

    // `linkwell token` signs with the configured key.
    let output = linkwell()
        .current_dir(dir.path())
        .env("LINKWELL_SIGNING_KEY_FILE", &path)
        .args(["token", "--role", "coordinator", "--sub", "jo"])
        .output()
        .unwrap();
    let token = String::from_utf8(output.stdout).unwrap();
    let keys = TokenKeys::new(&key, &[], ISSUER, AUDIENCE).unwrap();
    assert_eq!(keys.verify(token.trim()).unwrap().sub, "jo");
    assert!(
        !dir.path().join("linkwell.db.signing-key.pem").exists(),
        "no key made beside the database when one is configured"
    );
}

/// Rotation by configuration, through the binary: the configured key signs, the older one
/// (given as its public half) still verifies, both are published and named at start-up.
#[test]
fn serve_publishes_the_configured_keys() {
    let dir = tempfile::tempdir().unwrap();
    let signing = dir.path().join("new.pem");
    let old_public = dir.path().join("old.pub.pem");
    let key = SigningKey::create_file(&signing).unwrap();
    let old = SigningKey::generate();
    std::fs::write(&old_public, old.public().to_pem().unwrap()).unwrap();
    let mut child = linkwell()
        .current_dir(dir.path())
        .env("LINKWELL_SIGNING_KEY_FILE", &signing)
        .env("LINKWELL_VERIFY_KEY_FILES", &old_public)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let listening = lines.next().unwrap().unwrap();
    let _database = lines.next().unwrap().unwrap();
    let signing_line = lines.next().unwrap().unwrap();
    let verify_line = lines.next().unwrap().unwrap();
    let addr = listening.rsplit("http://").next().unwrap().to_owned();
    let answer = raw_request(&addr, "GET /.well-known/jwks.json");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        signing_line,
        format!(
            "signing key: ES256, kid {}, read from {} (LINKWELL_SIGNING_KEY_FILE)",
            key.kid(),
            signing.display()
        )
    );
    assert_eq!(
        verify_line,
        format!("verify key: kid {} (LINKWELL_VERIFY_KEY_FILES)", old.kid())
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let body: serde_json::Value =
        serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let kids: Vec<&str> = body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [key.kid(), old.kid()]);
    assert!(
        !dir.path().join("linkwell.db.signing-key.pem").exists(),
        "no key made beside the database when one is configured"
    );
}

#[test]
fn tokens_for_organisations_need_an_org() {
    let dir = tempfile::tempdir().unwrap();
    let output = linkwell()
        .current_dir(dir.path())
        .args(["token", "--role", "referrer", "--sub", "gp"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--org"));
    let output = linkwell()
        .current_dir(dir.path())
        .args(["token", "--role", "wizard", "--sub", "gp"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    // A token the server would refuse is never printed.
    let long = "s".repeat(201);
    let output = linkwell()
        .current_dir(dir.path())
        .args(["token", "--role", "admin", "--sub", &long])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
}

#[test]
fn the_retired_shared_secret_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = linkwell()
        .current_dir(dir.path())
        .env(
            "LINKWELL_JWT_SECRET",
            "a-secret-that-is-at-least-32-bytes-long-enough",
        )
        .args(["serve", "--bind", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("LINKWELL_JWT_SECRET is no longer read")
            && stderr.contains("LINKWELL_SIGNING_KEY_FILE"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("linkwell.db").exists(),
        "refused before touching the database"
    );
}

#[test]
fn client_tokens_outliving_the_accepted_lifetime_refuse_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = linkwell()
        .current_dir(dir.path())
        .env("LINKWELL_MAX_TOKEN_TTL", "600")
        .env("LINKWELL_CLIENT_TOKEN_TTL", "900")
        .args(["serve", "--bind", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("LINKWELL_CLIENT_TOKEN_TTL is 900 s") && stderr.contains("refusing"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "refused before touching the database or making a key"
    );
}

#[test]
fn postgres_without_a_key_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = linkwell()
        .current_dir(dir.path())
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            "postgres://nobody@127.0.0.1:1/none",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("PostgreSQL needs LINKWELL_SIGNING_KEY_FILE"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// Sends one raw HTTP/1.1 request and reads the whole answer.
fn raw_request(addr: &str, request_line: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{request_line} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn serve_says_where_it_listens_and_logs_no_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = linkwell()
        .current_dir(dir.path())
        .env("RUST_LOG", "debug")
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let listening = lines.next().unwrap().unwrap();
    let database = lines.next().unwrap().unwrap();
    assert!(
        listening.contains("listening on http://127.0.0.1:"),
        "{listening}"
    );
    let migrations = linkwell_persistence::migrate::count();
    assert_eq!(
        database,
        format!("database: sqlite://linkwell.db ({migrations} migrations applied)")
    );
    let addr = listening.rsplit("http://").next().unwrap().to_owned();
    // Personal data a careless client puts in a path or query never reaches the log.
    let answer = raw_request(&addr, "GET /v1/people/9990000018/Sam%20Jones");
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    let answer = raw_request(&addr, "GET /v1/referrals?given_name=Sam&dob=1950-02-28");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("GET <unmatched> 404"), "{log}");
    assert!(log.contains("GET /v1/referrals 401"), "{log}");
    for secret in ["9990000018", "Sam", "1950-02-28"] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
    let db = dir.path().join("linkwell.db");
    assert!(db.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&db).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the database holds personal data");
    }
}

#[test]
fn a_database_password_is_never_printed() {
    if backend() != "postgres" {
        return; // Needs a PostgreSQL server; runs in the PostgreSQL pass.
    }
    let admin = crate::support::admin_url();
    let name = format!("linkwell_cli_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::establish(&admin).unwrap();
    diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .unwrap();
    // Trust authentication ignores the password, so the URL works and the test can look for it.
    let url = with_database(&admin, &name).replacen("://postgres@", "://postgres:s3cret-pw@", 1);
    assert!(url.contains("s3cret-pw"), "{url}");
    let dir = tempfile::tempdir().unwrap();
    let output = linkwell()
        .current_dir(dir.path())
        .env("RUST_LOG", "debug")
        .args(["migrate", "--database-url", &url])
        .output()
        .unwrap();
    diesel::sql_query(format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .unwrap();
    assert!(output.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(all.contains("database: postgres://postgres:***@"), "{all}");
    assert!(!all.contains("s3cret-pw"));
}

#[test]
fn the_openapi_command_prints_the_published_contract() {
    let output = linkwell().arg("openapi").output().unwrap();
    assert!(output.status.success());
    let published =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml")).unwrap();
    assert!(
        String::from_utf8(output.stdout).unwrap() == published,
        "`linkwell openapi` differs from openapi.yaml: run `make openapi`"
    );
}

/// `linkwell token --user ID` acts as a registered user: role and organisation from their
/// record, the user id as subject; a deactivated user gets no token.
#[tokio::test]
async fn a_token_for_a_registered_user_carries_their_record() {
    let app = crate::support::TestApp::spawn().await;
    let org = app.organisation("Advice", "partner").await;
    let (user, _) = app.user(Role::Partner, Some(org)).await;
    let url = database_url(&app);
    let mint = |user: &str| {
        linkwell()
            .env("LINKWELL_SIGNING_KEY_FILE", &app.key_file)
            .args(["token", "--user", user, "--database-url", &url])
            .output()
            .unwrap()
    };
    let output = mint(&user.to_string());
    assert!(
        output.status.success(),
        "{:?} {} {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap();
    let caller = app.keys.verify(token.trim()).unwrap();
    assert_eq!(caller.sub, user.to_string());
    assert_eq!(caller.role, Role::Partner);
    assert_eq!(caller.org, Some(org));

    let unknown = mint(&uuid::Uuid::new_v4().to_string());
    assert!(!unknown.status.success());
    app.call(
        reqwest::Method::POST,
        &format!("/v1/users/{user}/deactivate"),
        Some(&app.admin()),
        None,
    )
    .await;
    let refused = mint(&user.to_string());
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("deactivated"));
}
