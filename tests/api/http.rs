//! The server under slow, odd or hostile clients, and HTTP semantics: stalled bodies, lock
//! waits, `If-Match`, content codings, errors raised below the handlers, tokens the server
//! must refuse, and the audit rows of refused requests. Raw TCP where a client library would
//! tidy the request up.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use linkwell_api::auth::Claims;
use linkwell_domain::Role;
use linkwell_persistence::audit;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{AUDIENCE, ISSUER, TestApp, backend, referral_body};

/// What the server said on one raw connection, and whether it then closed it.
#[derive(Debug)]
struct Raw {
    text: String,
    closed: bool,
    elapsed: Duration,
}

impl Raw {
    fn status(&self) -> u16 {
        self.text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    fn header(&self, name: &str) -> Option<String> {
        let head = self.text.split("\r\n\r\n").next()?;
        head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }

    fn body(&self) -> Value {
        let body = self.text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        serde_json::from_str(body).unwrap_or(Value::Null)
    }
}

/// Reads what arrives on `stream` until it closes or `wait` has passed.
fn read_all(stream: &mut TcpStream, wait: Duration) -> Raw {
    let started = Instant::now();
    let mut bytes = Vec::new();
    let mut closed = false;
    let mut buf = [0u8; 8192];
    while started.elapsed() < wait {
        let left = wait
            .saturating_sub(started.elapsed())
            .max(Duration::from_millis(1));
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                closed = true;
                break;
            }
            Err(_) => break,
        }
    }
    Raw {
        text: String::from_utf8_lossy(&bytes).into_owned(),
        closed,
        elapsed: started.elapsed(),
    }
}

/// Sends `request` on a fresh connection and reads for at most `wait`.
async fn raw(base: &str, request: Vec<u8>, wait: Duration) -> Raw {
    let addr = base.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(&request).unwrap();
        read_all(&mut stream, wait)
    })
    .await
    .unwrap()
}

/// A POST head that promises 1,000 bytes of JSON, and the first 10 of them.
fn stalled(path: &str, token: Option<&str>) -> Vec<u8> {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    format!(
        "POST {path} HTTP/1.1\r\nHost: linkwell\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: 1000\r\n\r\n{{\"person\":"
    )
    .into_bytes()
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_and_the_connection_closed() {
    let app = TestApp::spawn_with(|c| c.body_timeout = Duration::from_secs(1)).await;
    for (path, token) in [
        ("/v1/referrals", Some(app.coordinator())),
        ("/v1/self-referrals", None),
    ] {
        let reply = raw(
            &app.base,
            stalled(path, token.as_deref()),
            Duration::from_secs(6),
        )
        .await;
        assert_eq!(reply.status(), 408, "{path}: {}", reply.text);
        assert_eq!(
            reply.header("content-type").as_deref(),
            Some("application/problem+json")
        );
        let body = reply.body();
        assert_eq!(body["code"], "request_timeout", "{}", reply.text);
        assert_eq!(body["status"], 408);
        assert!(reply.closed, "{path}: the connection stays open");
        assert!(
            reply.elapsed < Duration::from_secs(4),
            "{path}: closed after {:?}",
            reply.elapsed
        );
    }
}

/// The outside testers' finding, reproduced: every connection is a file descriptor, and a
/// client that declares a body and stops sending held its connection for ever. At the
/// process's soft limit on open files (256 here, as on macOS; 1,024 on most Linux systems)
/// accepting fails (EMFILE) and nobody is answered, `/health/live` included. The server now
/// raises its soft limit to the hard one and closes stalled bodies after the body timeout.
#[tokio::test]
async fn hundreds_of_stalled_bodies_leave_liveness_fast() {
    let app = TestApp::spawn().await;
    let exe = crate::cli::linkwell().get_program().to_owned();
    let mut child: Child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -Sn 256 && exec \"$0\" \"$@\"")
        .arg(&exe)
        .args([
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            &crate::cli::database_url(&app),
            "serve",
        ])
        .env("LINKWELL_SIGNING_KEY_FILE", &app.key_file)
        .env("LINKWELL_BODY_TIMEOUT_SECONDS", "3")
        .env("LINKWELL_PUBLIC_RATE_PER_MINUTE", "100000")
        .env("LINKWELL_WORKERS", "1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kept open to the end: a server whose stdout is closed dies at its next line.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let addr = first
        .trim()
        .rsplit("http://")
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{first}");

    let outcome = tokio::task::spawn_blocking(move || {
        let mut held = Vec::new();
        for _ in 0..400 {
            let mut stream = TcpStream::connect(&addr).unwrap();
            stream
                .write_all(&stalled("/v1/self-referrals", None))
                .unwrap();
            held.push(stream);
        }
        let mut probes = Vec::new();
        for _ in 0..3 {
            let started = Instant::now();
            let answered = TcpStream::connect(&addr).ok().map(|mut probe| {
                probe
                    .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .unwrap();
                read_all(&mut probe, Duration::from_secs(2)).status()
            });
            probes.push((answered, started.elapsed()));
            std::thread::sleep(Duration::from_millis(300));
        }
        let released = held
            .iter_mut()
            .map(|stream| read_all(stream, Duration::from_secs(6)))
            .filter(|reply| reply.closed && reply.status() == 408)
            .count();
        (probes, released)
    })
    .await
    .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    drop(stdout);
    let (probes, released) = outcome;
    for (status, took) in &probes {
        assert_eq!(*status, Some(200), "{probes:?}");
        assert!(*took < Duration::from_secs(1), "{probes:?}");
    }
    assert_eq!(
        released, 400,
        "every stalled body is answered 408 and closed"
    );
}

#[tokio::test]
async fn a_writer_kept_waiting_on_a_lock_gets_503_with_retry_after() {
    let app = TestApp::spawn_with(|c| c.pool.lock_timeout = Duration::from_millis(300)).await;
    let coordinator = app.coordinator();
    let id = app.refer(&coordinator, &referral_body("L-1")).await.id();
    let mut holder = app.db();
    // Another transaction holds what the write needs: SQLite's one write lock, or the
    // referral's row on PostgreSQL.
    if backend() == "postgres" {
        holder
            .batch_execute(&format!(
                "BEGIN; SELECT id FROM referrals WHERE id = '{id}' FOR UPDATE;"
            ))
            .unwrap();
    } else {
        holder.batch_execute("BEGIN IMMEDIATE;").unwrap();
    }
    let accept = json!({"to": "accepted"});
    let waited = app.transition(id, &coordinator, 1, &accept).await;
    waited.problem(503, "service_unavailable");
    assert_eq!(waited.header("retry-after"), Some("5"));
    holder.batch_execute("ROLLBACK;").unwrap();
    let reply = app.transition(id, &coordinator, 1, &accept).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[tokio::test]
async fn if_match_star_matches_and_well_formed_strangers_are_412() {
    let app = TestApp::spawn().await;
    let coordinator = app.coordinator();
    let id = app.refer(&coordinator, &referral_body("M-1")).await.id();
    let path = format!("/v1/referrals/{id}/transitions");
    let send = |tag: &'static str, body: Value| {
        let app = &app;
        let path = path.clone();
        let coordinator = coordinator.clone();
        async move {
            app.send(
                Method::POST,
                &path,
                &coordinator,
                Some(&body),
                &[("if-match", tag)],
            )
            .await
        }
    };
    for stale in ["\"stale-999\"", "\"\"", "W/\"1\"", "\"01\"", "\"2\", \"x\""] {
        send(stale, json!({"to": "accepted"}))
            .await
            .problem(412, "precondition_failed");
    }
    for malformed in ["1", "\"1", "W/1", "\"1\" \"2\"", "*, \"1\""] {
        let reply = send(malformed, json!({"to": "accepted"})).await;
        reply.problem(400, "invalid_parameter");
        assert_eq!(
            reply.field_errors(),
            [("If-Match".into(), "invalid_header".into())]
        );
    }
    let reply = send("*", json!({"to": "accepted"})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["version"], 2);
    let reply = send(
        "\"1\", \"2\"",
        json!({"to": "declined", "reason": "Not now."}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    // `*` needs a current representation: a plan not written yet has none.
    let accepted = app
        .accepted(app.organisation("P", "gp_practice").await, "M-2")
        .await;
    let plan = format!("/v1/referrals/{accepted}/plan");
    let body = json!({"what_matters": "Getting out more."});
    app.send(
        Method::PUT,
        &plan,
        &coordinator,
        Some(&body),
        &[("if-match", "*")],
    )
    .await
    .problem(412, "precondition_failed");
    let made = app
        .send(Method::PUT, &plan, &coordinator, Some(&body), &[])
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let again = json!({"what_matters": "Getting out more, and the garden."});
    let replaced = app
        .send(
            Method::PUT,
            &plan,
            &coordinator,
            Some(&again),
            &[("if-match", "*")],
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
}

#[tokio::test]
async fn a_body_in_a_content_coding_the_server_does_not_decode_is_415() {
    let app = TestApp::spawn().await;
    let coordinator = app.coordinator();
    for coding in ["gzip", "br", "deflate, identity", "x-unknown"] {
        let reply = app
            .send(
                Method::POST,
                "/v1/referrals",
                &coordinator,
                Some(&referral_body("E-1")),
                &[("content-encoding", coding)],
            )
            .await;
        reply.problem(415, "unsupported_content_encoding");
        assert_eq!(
            reply.header("accept-encoding"),
            Some("identity"),
            "{coding}"
        );
    }
    let listed = app.get("/v1/referrals", &coordinator).await;
    assert_eq!(listed.body["items"], json!([]), "nothing was stored");
    let reply = app
        .send(
            Method::POST,
            "/v1/referrals",
            &coordinator,
            Some(&referral_body("E-1")),
            &[("content-encoding", "identity")],
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
}

/// What the server answers for heads it will not serve. The request target and header limits
/// are the app's, so they answer problem details; past actix-http's own limits (a head over
/// 128 KiB, a malformed head such as Content-Length beside Transfer-Encoding) actix-http's
/// dispatcher writes a bare status itself, with no hook to give it a body, and closes.
#[tokio::test]
async fn errors_below_the_handlers_are_problem_details_where_the_app_answers() {
    let app = TestApp::spawn().await;
    let wait = Duration::from_secs(5);
    let long = format!(
        "GET /v1/referrals?q={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "a".repeat(9000)
    );
    let reply = raw(&app.base, long.into_bytes(), wait).await;
    assert_eq!(reply.status(), 414, "{}", reply.text);
    assert_eq!(reply.body()["code"], "uri_too_long");
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/problem+json")
    );

    let big = format!(
        "GET /health/live HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\nConnection: close\r\n\r\n",
        "b".repeat(20_000)
    );
    let reply = raw(&app.base, big.into_bytes(), wait).await;
    assert_eq!(reply.status(), 431, "{}", reply.text);
    assert_eq!(reply.body()["code"], "headers_too_large");
    assert_eq!(reply.body()["status"], 431);

    // Below the app, answered by actix-http itself and closed: problem details too.
    let problem = |reply: &Raw, status: u16, code: &str| {
        assert_eq!(reply.status(), status, "{}", reply.text);
        assert!(reply.closed, "{}", reply.text);
        assert_eq!(
            reply.header("content-type").as_deref(),
            Some("application/problem+json"),
            "{}",
            reply.text
        );
        let body = reply.body();
        assert_eq!(body["status"], status, "{}", reply.text);
        assert_eq!(body["code"], code, "{}", reply.text);
        assert_eq!(
            body["instance"].as_str(),
            reply.header("x-request-id").as_deref()
        );
    };
    let smuggled = b"POST /v1/self-referrals HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\
                     Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        .to_vec();
    let reply = raw(&app.base, smuggled, wait).await;
    problem(&reply, 400, "malformed_request");
    let huge = format!(
        "GET /health/live HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\n\r\n",
        "c".repeat(140_000)
    );
    let reply = raw(&app.base, huge.into_bytes(), wait).await;
    problem(&reply, 431, "headers_too_large");
    let many: String = (0..100).map(|i| format!("X-Field-{i}: 1\r\n")).collect();
    let many = format!("GET /health/live HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    let reply = raw(&app.base, many.into_bytes(), wait).await;
    problem(&reply, 431, "headers_too_large");
    // A head that never ends: 408 once the head timeout (5 s) has passed.
    let started = b"GET /health/live HTTP/1.1\r\nHost: x\r\n".to_vec();
    let reply = raw(&app.base, started, Duration::from_secs(8)).await;
    problem(&reply, 408, "request_timeout");
    // After an answered request on the same connection, the bad one's answer follows it.
    let pipelined = b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n\
                      GET /health/live HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\
                      Transfer-Encoding: chunked\r\n\r\n"
        .to_vec();
    let reply = raw(&app.base, pipelined, wait).await;
    assert!(
        reply.text.starts_with("HTTP/1.1 200 OK\r\n"),
        "{}",
        reply.text
    );
    let second = reply.text.find("{\"status\":\"ok\"}").unwrap() + 15;
    let rest = Raw {
        text: reply.text[second..].to_owned(),
        closed: reply.closed,
        elapsed: reply.elapsed,
    };
    problem(&rest, 400, "malformed_request");
}

#[tokio::test]
async fn tokens_for_missing_or_unfitting_organisations_are_401() {
    let app = TestApp::spawn().await;
    let practice = app.organisation("Practice", "gp_practice").await;
    let partner = app.organisation("Partner", "partner").await;
    let agency = app.organisation("Agency", "agency").await;
    for (role, org, path) in [
        (Role::Referrer, Uuid::new_v4(), "/v1/referrals"),
        (Role::Partner, Uuid::new_v4(), "/v1/connections"),
        (Role::Coordinator, Uuid::new_v4(), "/v1/referrals"),
        (Role::Referrer, partner, "/v1/referrals"),
        (Role::Partner, practice, "/v1/connections"),
    ] {
        let reply = app.get(path, &app.token(role, Some(org))).await;
        reply.problem(401, "unauthorized");
        assert_eq!(
            reply.header("www-authenticate"),
            Some(r#"Bearer realm="linkwell", error="invalid_token""#)
        );
    }
    for (role, org, path) in [
        (Role::Referrer, practice, "/v1/referrals"),
        (Role::Referrer, agency, "/v1/referrals"),
        (Role::Partner, partner, "/v1/connections"),
        (Role::Partner, agency, "/v1/connections"),
    ] {
        // Twice: the second time from what this instance remembers.
        for _ in 0..2 {
            let reply = app.get(path, &app.token(role, Some(org))).await;
            assert_eq!(reply.status, 200, "{role} for {org}: {}", reply.text);
        }
    }
    // An organisation registered after a token naming it was first refused.
    let later = Uuid::new_v4();
    let token = app.token(Role::Referrer, Some(later));
    app.get("/v1/referrals", &token)
        .await
        .problem(401, "unauthorized");
    let registered = chrono::Utc::now();
    linkwell_persistence::organisations::insert(
        &mut app.db(),
        &linkwell_domain::Organisation {
            id: later,
            name: "Later".into(),
            kind: linkwell_domain::OrganisationKind::GpPractice,
            ods_code: None,
            network_id: None,
            created_at: registered,
            updated_at: registered,
            version: 1,
        },
    )
    .unwrap();
    assert_eq!(app.get("/v1/referrals", &token).await.status, 200);
}

#[tokio::test]
async fn tokens_living_longer_than_the_maximum_are_401() {
    let app = TestApp::spawn().await;
    let now = chrono::Utc::now().timestamp();
    let claims = |iat: i64, exp: i64| Claims {
        iss: ISSUER.into(),
        aud: linkwell_api::auth::Audience::One(AUDIENCE.into()),
        sub: "script".into(),
        role: "admin".into(),
        org: None,
        exp,
        nbf: now - 60,
        iat,
        jti: Uuid::new_v4().to_string(),
    };
    let day = 24 * 60 * 60;
    for (iat, exp) in [
        (now, now + day + 3600),
        (now - 3600, now + day),
        (now + 2 * day, now + 2 * day + 60),
    ] {
        app.get("/v1/users", &app.sign(&claims(iat, exp)))
            .await
            .problem(401, "unauthorized");
    }
    let fine = app.sign(&claims(now, now + day));
    assert_eq!(app.get("/v1/users", &fine).await.status, 200);

    let strict = TestApp::spawn_with(|c| c.max_token_ttl = Duration::from_secs(3600)).await;
    strict
        .get("/v1/users", &strict.sign(&claims(now, now + 7200)))
        .await
        .problem(401, "unauthorized");
    let short = strict.sign(&claims(now, now + 1800));
    assert_eq!(strict.get("/v1/users", &short).await.status, 200);

    let refused = crate::cli::linkwell()
        .env("LINKWELL_SIGNING_KEY_FILE", &app.key_file)
        .env("LINKWELL_MAX_TOKEN_TTL", "3600")
        .args(["token", "--role", "admin", "--sub", "x", "--ttl", "7200"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("LINKWELL_MAX_TOKEN_TTL"));
}

/// Every audited operation on a route with an id: a role that may not perform it, and staff
/// asking for an id that does not exist, leave a row naming the id asked for.
#[tokio::test]
async fn refused_requests_name_the_record_asked_for() {
    let app = TestApp::spawn().await;
    let commissioner = app.token(Role::Commissioner, None);
    let coordinator = app.coordinator();
    let doc = serde_json::to_value(linkwell_api::openapi::document()).unwrap();
    let mut asked = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.contains("{id}") {
            continue;
        }
        for (method, operation) in item.as_object().unwrap() {
            let Some(op) = operation["operationId"]
                .as_str()
                .and_then(linkwell_api::access::find)
            else {
                continue;
            };
            // Open to anyone (an action link): no role is refused; its own test covers its
            // refusals' rows.
            if !op.audited || op.is_public() {
                continue;
            }
            let id = Uuid::new_v4();
            // `{id}` names the record; any further parameter is another id under it.
            let concrete = path
                .replace("{id}", &id.to_string())
                .split('/')
                .map(|part| {
                    if part.starts_with('{') {
                        Uuid::new_v4().to_string()
                    } else {
                        part.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
            let denied = app
                .call(
                    method.clone(),
                    &concrete,
                    Some(&commissioner),
                    body.as_ref(),
                )
                .await;
            denied.problem(403, "forbidden");
            asked.push((denied, id, "forbidden", op.action));
            if method == Method::GET {
                // Staff who may read it (the subject access export is administrators' alone).
                let reader = if op.roles.contains(&Role::Coordinator) {
                    coordinator.clone()
                } else {
                    app.admin()
                };
                let missing = app.get(&concrete, &reader).await;
                missing.problem(404, "not_found");
                asked.push((missing, id, "not_found", op.action));
            }
        }
    }
    assert!(asked.len() >= 30, "{}", asked.len());
    let events = audit::recent(&mut app.db(), 10_000).unwrap();
    for (reply, id, outcome, action) in &asked {
        let request_id = reply.header("x-request-id").unwrap();
        let rows: Vec<_> = events
            .iter()
            .filter(|e| e.request_id == request_id)
            .map(|e| (e.action.as_str(), e.resource_id, e.outcome.as_str()))
            .collect();
        assert_eq!(rows, [(*action, Some(*id), *outcome)], "{}", reply.text);
    }
    // A refused create under a parent names the parent.
    let id = Uuid::new_v4();
    let session = json!({"kind": "conversation", "mode": "phone",
        "scheduled_at": "2026-01-01T10:00:00Z", "status": "attended", "duration_minutes": 20});
    let missing = app
        .post(
            &format!("/v1/referrals/{id}/sessions"),
            &coordinator,
            &session,
        )
        .await;
    missing.problem(404, "not_found");
    let events = audit::recent(&mut app.db(), 10).unwrap();
    let row = events
        .iter()
        .find(|e| Some(e.request_id.as_str()) == missing.header("x-request-id"))
        .unwrap();
    assert_eq!(
        (row.action.as_str(), row.resource_id, row.outcome.as_str()),
        ("session.create", Some(id), "not_found")
    );
}
