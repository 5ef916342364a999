//! Two `linkwell serve` processes on one PostgreSQL database, sharing one signing key, behave
//! as one service: an idempotent retry lands on either, a partner's feed reads the same from
//! either, both expiry jobs together expire each request once, and reports agree.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use linkwell_domain::Role;
use linkwell_persistence::audit;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::cli::{database_url, linkwell};
use crate::support::{Reply, TestApp, backend, referral_body};

/// A `linkwell serve` process; killed on drop.
struct Instance {
    child: Child,
    base: String,
}

impl Instance {
    /// Serves `app`'s database with `app`'s signing key; requests are due after one day and
    /// each instance looks for them every second.
    fn serve(app: &TestApp) -> Self {
        let mut child = linkwell()
            .env("DATABASE_URL", database_url(app))
            .env("LINKWELL_SIGNING_KEY_FILE", &app.key_file)
            .env("LINKWELL_CONNECTION_RESPONSE_DAYS", "1")
            .env("LINKWELL_EXPIRY_INTERVAL_SECONDS", "1")
            .env("LINKWELL_TOTALS_FOLD_INTERVAL_MS", "100")
            .args(["serve", "--bind", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let listening = lines.next().unwrap().unwrap();
        let addr = listening.rsplit("http://").next().unwrap().to_owned();
        // Keep reading: a closed pipe would end the server at its next line of output.
        std::thread::spawn(move || lines.for_each(drop));
        Self {
            child,
            base: format!("http://{addr}"),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a request to `to` as `token`, with extra headers.
async fn send(
    app: &TestApp,
    to: &Instance,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = app
        .client
        .request(method, format!("{}{path}", to.base))
        .bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    Reply::from_response(request.send().await.unwrap()).await
}

async fn get(app: &TestApp, to: &Instance, path: &str, token: &str) -> Reply {
    let reply = send(app, to, Method::GET, path, token, None, &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply
}

/// Creates through `to`; returns the new resource's id.
async fn create(app: &TestApp, to: &Instance, path: &str, token: &str, body: &Value) -> Uuid {
    let reply = send(app, to, Method::POST, path, token, Some(body), &[]).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.id()
}

/// Registers an organisation through `to`.
async fn organisation(app: &TestApp, to: &Instance, name: &str, kind: &str) -> Uuid {
    let body = json!({"name": name, "kind": kind});
    create(app, to, "/v1/organisations", &app.admin(), &body).await
}

/// Moves `path`'s resource, at `version`, through `to`.
async fn transition(
    app: &TestApp,
    to: &Instance,
    path: &str,
    token: &str,
    version: i64,
    body: Value,
) {
    let etag = format!("\"{version}\"");
    let reply = send(
        app,
        to,
        Method::POST,
        &format!("{path}/transitions"),
        token,
        Some(&body),
        &[("if-match", &etag)],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

/// Reads the partner's feed from `cursor` to its end, one item a page, each page from the
/// next instance in turn; returns (id, version) in feed order and the cursor to resume from.
async fn drain(
    app: &TestApp,
    instances: [&Instance; 2],
    token: &str,
    mut cursor: String,
) -> (Vec<(Uuid, i64)>, String) {
    let mut seen = Vec::new();
    for turn in 0.. {
        let page = get(
            app,
            instances[turn % 2],
            &format!("/v1/connections?updated_since=2000-01-01&limit=1{cursor}"),
            token,
        )
        .await;
        let items = page.body["items"].as_array().unwrap();
        cursor = format!("&cursor={}", page.body["next_cursor"].as_str().unwrap());
        if items.is_empty() {
            break;
        }
        for c in items {
            let id = c["id"].as_str().unwrap().parse().unwrap();
            seen.push((id, c["version"].as_i64().unwrap()));
        }
    }
    (seen, cursor)
}

#[tokio::test]
async fn two_instances_on_one_database_behave_as_one() {
    if backend() != "postgres" {
        // Two processes on one SQLite file would serialise their writers, but that is not a
        // deployment the README offers: several instances means PostgreSQL. Runs in that pass.
        return;
    }
    // Makes and migrates the database and holds the key; its own expiry (every 60 s, after
    // 14 days) never touches what the two instances expire below, and its totals job folds
    // once at start and then not for an hour: the two instances fold what they write.
    let app =
        TestApp::spawn_with(|c| c.totals_fold_every = std::time::Duration::from_secs(3600)).await;
    let (a, b) = (Instance::serve(&app), Instance::serve(&app));
    let admin = app.admin();
    let staff = app.coordinator();
    let practice_a = organisation(&app, &a, "Practice A", "gp_practice").await;
    let practice_b = organisation(&app, &b, "Practice B", "gp_practice").await;
    let partner = organisation(&app, &a, "Advice", "partner").await;
    let partner_token = app.token(Role::Partner, Some(partner));

    // An idempotent create sent to A and retried on B: one referral, replayed from B.
    let referrer = app.referrer(practice_a);
    let body = referral_body("SCALE-KEYED");
    let key = [("idempotency-key", "scale-out-1")];
    let first = send(
        &app,
        &a,
        Method::POST,
        "/v1/referrals",
        &referrer,
        Some(&body),
        &key,
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert_eq!(first.header("idempotent-replayed"), None);
    let retry = send(
        &app,
        &b,
        Method::POST,
        "/v1/referrals",
        &referrer,
        Some(&body),
        &key,
    )
    .await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.text);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.text, first.text);
    assert_eq!(retry.id(), first.id());
    let list = get(&app, &b, "/v1/referrals?limit=100", &staff).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);

    // More referrals through both: 6 from practice A (the keyed one included), 4 from B.
    let mut referrals = vec![first.id()];
    for n in 0..9 {
        let (to, practice) = match n % 3 {
            0 => (&b, practice_b),
            1 => (&a, practice_a),
            _ => (&b, if n < 6 { practice_a } else { practice_b }),
        };
        let body = referral_body(&format!("SCALE-{n}"));
        referrals.push(create(&app, to, "/v1/referrals", &app.referrer(practice), &body).await);
    }
    let accepted = referrals[0];
    transition(
        &app,
        &b,
        &format!("/v1/referrals/{accepted}"),
        &staff,
        1,
        json!({"to": "accepted"}),
    )
    .await;

    // Connection requests through both; the partner's feed shows them in order, read page by
    // page from A and B in turn, the cursor carried across.
    let connect = json!({"organisation_id": partner, "need": "money_and_benefits",
                         "consent_to_share": true, "shared_fields": []});
    let path = format!("/v1/referrals/{accepted}/connections");
    let mut requests = Vec::new();
    for to in [&a, &b, &a, &b, &a, &b] {
        requests.push(create(&app, to, &path, &staff, &connect).await);
    }
    let (seen, cursor) = drain(&app, [&b, &a], &partner_token, String::new()).await;
    assert_eq!(seen, requests.iter().map(|id| (*id, 1)).collect::<Vec<_>>());

    // The partner answers two through A and B; staff note a third through A.
    let conn_path = |id: Uuid| format!("/v1/connections/{id}");
    transition(
        &app,
        &a,
        &conn_path(requests[1]),
        &partner_token,
        1,
        json!({"to": "accepted"}),
    )
    .await;
    transition(
        &app,
        &b,
        &conn_path(requests[3]),
        &partner_token,
        1,
        json!({"to": "accepted"}),
    )
    .await;
    create(
        &app,
        &a,
        &format!("{}/notes", conn_path(requests[4])),
        &staff,
        &json!({"text": "Any news?"}),
    )
    .await;
    let (seen, cursor) = drain(&app, [&a, &b], &partner_token, cursor).await;
    assert_eq!(seen, [(requests[1], 2), (requests[3], 2), (requests[4], 2)]);

    // The unanswered four fall due; both instances' jobs run every second.
    let due: BTreeSet<Uuid> = [0, 2, 4, 5].map(|i| requests[i]).into();
    {
        use diesel::{Connection, PgConnection, RunQueryDsl};
        let mut conn = PgConnection::establish(&database_url(&app)).unwrap();
        let ids: Vec<String> = due.iter().map(|id| format!("'{id}'")).collect();
        let backdated = diesel::sql_query(format!(
            "UPDATE connections SET created_at = created_at - interval '2 days' \
             WHERE id IN ({})",
            ids.join(",")
        ))
        .execute(&mut conn)
        .unwrap();
        assert_eq!(backdated, due.len());
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut expired = 0;
        for id in &due {
            let c = get(&app, &a, &conn_path(*id), &staff).await;
            expired += usize::from(c.body["status"] == "expired");
        }
        if expired == due.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{expired} of {} expired",
            due.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let both jobs run over them again: neither expires anything twice.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for id in &due {
        let c = get(&app, &b, &conn_path(*id), &staff).await;
        assert_eq!(
            (&c.body["status"], &c.body["version"]),
            (
                &json!("expired"),
                &json!(if *id == requests[4] { 3 } else { 2 })
            )
        );
    }
    let expiries: Vec<Uuid> = audit::recent(&mut app.db(), 1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "connection.expire")
        .map(|e| e.resource_id.unwrap())
        .collect();
    assert_eq!(expiries.len(), due.len(), "one audit row per expiry");
    assert_eq!(expiries.into_iter().collect::<BTreeSet<_>>(), due);
    // Each expiry once in the feed. Which instance committed first is not the test's to
    // know, so their order within the round is not asserted.
    let (seen, cursor) = drain(&app, [&b, &a], &partner_token, cursor).await;
    let versions: BTreeSet<(Uuid, i64)> = seen.iter().copied().collect();
    assert_eq!(seen.len(), due.len(), "none twice: {seen:?}");
    assert_eq!(
        versions,
        due.iter()
            .map(|id| (*id, if *id == requests[4] { 3 } else { 2 }))
            .collect()
    );
    let (seen, _) = drain(&app, [&a, &b], &partner_token, cursor).await;
    assert_eq!(seen, []);

    // The activity report, read from either, counts what both wrote, exactly (admins see
    // exact figures).
    let today = chrono::Utc::now().date_naive();
    let query = format!(
        "/v1/reports/activity?from={today}&to={}",
        today + chrono::Duration::days(30)
    );
    let from_a = get(&app, &a, &query, &admin).await.body;
    let from_b = get(&app, &b, &query, &admin).await.body;
    assert_eq!(from_a, from_b);
    assert_eq!(from_a["referrals_received"], 10);
    assert_eq!(from_a["by_source"]["gp_practice"], 10);
    let by_org = &from_a["by_referrer_org"];
    assert_eq!(by_org[practice_a.to_string()], 6);
    assert_eq!(by_org[practice_b.to_string()], 4);
    assert_eq!(from_a["suppressed"], json!([]));

    // The totals' deltas both wrote are folded by the instances' jobs (one at a time), and
    // the report reads the same from the folded totals. (No rebuild comparison here: the
    // expiries above were made due by moving `created_at` in SQL, behind the totals' back.)
    use linkwell_persistence::tallies;
    let mut conn = app.db();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while tallies::unfolded(&mut conn).unwrap() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the instances never folded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(get(&app, &b, &query, &admin).await.body, from_a);
}
