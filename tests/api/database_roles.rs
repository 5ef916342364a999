//! PostgreSQL's two roles (docs/database-roles.md): the owner migrates and grants; the server,
//! connected as the runtime role, writes the audit trail but cannot change, remove or unguard
//! a row of it; and it refuses to start while a migration it may not apply is pending.

use std::process::Stdio;
use std::time::{Duration, Instant};

use diesel::result::Error as DieselError;
use diesel::sql_types::{BigInt, Text};
use diesel::{Connection, PgConnection, RunQueryDsl};
use linkwell_api::signing_keys::SigningKey;
use linkwell_persistence::DatabaseUrl;
use reqwest::StatusCode;
use uuid::Uuid;

use crate::cli::linkwell;
use crate::support::{TestApp, backend, referral_body, with_database};

/// The server URL `url` with `user` in place of its user.
fn as_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.split_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}@{host}")
}

/// A test's own LOGIN roles (trust authentication on 127.0.0.1 needs no password): the owner
/// and the runtime role. Dropped last, after the test's database has gone.
struct Roles {
    admin_url: String,
    owner: String,
    app: String,
}

impl Roles {
    fn create() -> Self {
        let admin_url = crate::support::admin_url();
        let tag = Uuid::new_v4().simple().to_string();
        let roles = Self {
            admin_url,
            owner: format!("lw_owner_{tag}"),
            app: format!("lw_app_{tag}"),
        };
        let mut conn = PgConnection::establish(&roles.admin_url).unwrap();
        for role in [&roles.owner, &roles.app] {
            diesel::sql_query(format!("CREATE ROLE \"{role}\" LOGIN"))
                .execute(&mut conn)
                .unwrap();
        }
        roles
    }
}

impl Drop for Roles {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.admin_url) {
            for role in [&self.app, &self.owner] {
                let _ =
                    diesel::sql_query(format!("DROP ROLE IF EXISTS \"{role}\"")).execute(&mut conn);
            }
        }
    }
}

fn postgres_url(app: &TestApp) -> String {
    match &app.database {
        DatabaseUrl::Postgres(url) => url.clone(),
        DatabaseUrl::Sqlite(_) => unreachable!("PostgreSQL only"),
    }
}

#[derive(diesel::QueryableByName, Debug, PartialEq, Eq)]
struct Trail {
    #[diesel(sql_type = BigInt)]
    rows: i64,
    #[diesel(sql_type = Text)]
    digest: String,
}

/// How many rows the trail holds, and a digest of all of them.
fn trail(conn: &mut PgConnection) -> Trail {
    diesel::sql_query(
        "SELECT count(*) AS rows,
                md5(COALESCE(string_agg(a::text, '|' ORDER BY a.id), '')) AS digest
         FROM audit_events a",
    )
    .get_result(conn)
    .unwrap()
}

/// The database's message for a statement that must fail.
fn refusal(conn: &mut PgConnection, sql: &str) -> String {
    match diesel::sql_query(sql).execute(conn) {
        Err(DieselError::DatabaseError(_, info)) => info.message().to_owned(),
        other => panic!("{sql}: expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn the_runtime_role_appends_to_the_trail_and_can_change_nothing_in_it() {
    if backend() != "postgres" {
        return; // SQLite has no roles (docs/database-roles.md); runs in the PostgreSQL pass.
    }
    let roles = Roles::create();
    let mut runtime_url = String::new();
    let app = TestApp::spawn_with(|config| {
        let DatabaseUrl::Postgres(admin_db) = config.database.clone() else {
            unreachable!()
        };
        let name = admin_db
            .rsplit('/')
            .next()
            .and_then(|tail| tail.split('?').next())
            .unwrap()
            .to_owned();
        let mut conn = PgConnection::establish(&admin_db).unwrap();
        diesel::sql_query(format!(
            "ALTER DATABASE \"{name}\" OWNER TO \"{}\"",
            roles.owner
        ))
        .execute(&mut conn)
        .unwrap();
        let owner_url = as_user(&admin_db, &roles.owner);
        runtime_url = as_user(&admin_db, &roles.app);
        // The owner's URL comes from its own setting; the server's DATABASE_URL is ignored.
        let migrated = linkwell()
            .env("LINKWELL_MIGRATION_DATABASE_URL", &owner_url)
            .env("DATABASE_URL", &runtime_url)
            .env("LINKWELL_RUNTIME_ROLE", &roles.app)
            .arg("migrate")
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&migrated.stdout);
        assert!(
            migrated.status.success(),
            "{out}{}",
            String::from_utf8_lossy(&migrated.stderr)
        );
        assert!(
            out.contains(&format!("runtime role {}", roles.app)),
            "{out}"
        );
        config.database = DatabaseUrl::Postgres(runtime_url.clone());
    })
    .await;

    // The real app, connected as the runtime role, writes and reads personal data.
    let org = app.organisation("Practice", "gp_practice").await;
    let made = app
        .refer(&app.referrer(org), &referral_body("ROLES-1"))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let read = app
        .get(&format!("/v1/referrals/{}", made.id()), &app.coordinator())
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);

    let mut conn = PgConnection::establish(&runtime_url).unwrap();
    let before = trail(&mut conn);
    assert!(
        before.rows >= 2,
        "the create and the read were audited: {before:?}"
    );
    let owner_only = "must be owner of";
    let no_privilege = "permission denied for table audit_events";
    for (sql, expected) in [
        ("UPDATE audit_events SET action = 'tampered'", no_privilege),
        ("DELETE FROM audit_events", no_privilege),
        ("TRUNCATE audit_events", no_privilege),
        ("ALTER TABLE audit_events DISABLE TRIGGER ALL", owner_only),
        (
            "DROP TRIGGER audit_events_no_change ON audit_events",
            owner_only,
        ),
        ("ALTER TABLE audit_events OWNER TO CURRENT_USER", owner_only),
    ] {
        let message = refusal(&mut conn, sql);
        // Refused for want of privilege (SQLSTATE 42501), before any trigger could run.
        assert!(message.contains(expected), "{sql}: {message}");
        assert!(message.contains("audit_events"), "{sql}: {message}");
    }
    // The one change an erasure makes is allowed; any other use of that column is the
    // trigger's to refuse.
    diesel::sql_query(
        "UPDATE audit_events SET actor_sub = 'anonymous' \
         WHERE actor_role = 'anonymous' AND actor_sub <> 'anonymous'",
    )
    .execute(&mut conn)
    .unwrap();
    let message = refusal(
        &mut conn,
        "UPDATE audit_events SET actor_sub = 'someone-else' WHERE actor_role <> 'anonymous'",
    );
    assert!(message.contains("append-only"), "{message}");
    assert_eq!(trail(&mut conn), before, "the trail is unchanged");
    // Ordinary tables stay writable, and the migrations' bookkeeping read-only.
    diesel::sql_query("UPDATE organisations SET name = name")
        .execute(&mut conn)
        .unwrap();
    let message = refusal(&mut conn, "DELETE FROM __diesel_schema_migrations");
    assert!(message.contains("permission denied"), "{message}");
    drop(conn);

    // The runtime role's privileges go with it; the roles after the database.
    let mut admin = PgConnection::establish(&postgres_url(&app)).unwrap();
    diesel::sql_query(format!("DROP OWNED BY \"{}\"", roles.app))
        .execute(&mut admin)
        .unwrap();
    drop(admin);
    drop(app);
    drop(roles);
}

#[test]
fn a_runtime_role_refuses_to_start_while_a_migration_is_pending() {
    if backend() != "postgres" {
        return; // Needs a PostgreSQL server; runs in the PostgreSQL pass.
    }
    let roles = Roles::create();
    let app_role = roles.app.clone();
    let name = format!("linkwell_roles_{}", Uuid::new_v4().simple());
    let mut admin = PgConnection::establish(&roles.admin_url).unwrap();
    diesel::sql_query(format!(
        "CREATE DATABASE \"{name}\" OWNER \"{}\"",
        roles.owner
    ))
    .execute(&mut admin)
    .unwrap();
    let db_url = with_database(&roles.admin_url, &name);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    SigningKey::create_file(&key).unwrap();

    let mut server = linkwell()
        .env("LINKWELL_SIGNING_KEY_FILE", &key)
        .args(["serve", "--bind", "127.0.0.1:0", "--database-url"])
        .arg(as_user(&db_url, &roles.app))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = server.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = server.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();

    // Nothing was made: the owner's database is as empty as it was.
    let mut conn = PgConnection::establish(&db_url).unwrap();
    let tables: i64 = diesel::sql_query(
        "SELECT count(*) AS rows, '' AS digest FROM pg_tables WHERE schemaname = 'public'",
    )
    .get_result::<Trail>(&mut conn)
    .unwrap()
    .rows;
    drop(conn);
    diesel::sql_query(format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .execute(&mut admin)
        .unwrap();
    drop(roles);

    assert!(
        status.is_some_and(|s| !s.success()),
        "still running: {stderr}"
    );
    assert!(stderr.contains("pending migration"), "{stderr}");
    assert!(stderr.contains(&format!("role {app_role}")), "{stderr}");
    assert!(stderr.contains("linkwell migrate"), "{stderr}");
    assert!(stderr.contains("refusing to start"), "{stderr}");
    assert_eq!(tables, 0);
}
