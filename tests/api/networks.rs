//! Networks of organisations (a Primary Care Network's practices): figures for the network
//! whole, published where a single practice's are suppressed.

use linkwell_domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::support::{TestApp, referral_body};

async fn activity(app: &TestApp, token: &str, query: &str) -> serde_json::Value {
    let reply = app
        .get(&format!("/v1/reports/activity?{query}"), token)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body
}

#[tokio::test]
async fn admins_make_networks_and_put_organisations_in_them() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let made = app
        .post("/v1/networks", &admin, &json!({"name": "Bury North PCN"}))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let pcn = made.id();
    assert_eq!(
        made.header("location"),
        Some(format!("/v1/networks/{pcn}").as_str())
    );
    let again = app
        .post("/v1/networks", &admin, &json!({"name": "bury north pcn"}))
        .await;
    assert_eq!(again.problem(409, "duplicate")["existing_id"], json!(pcn));
    for role in [
        Role::Coordinator,
        Role::Commissioner,
        Role::Referrer,
        Role::Partner,
    ] {
        let token = app.member(role).await;
        app.post("/v1/networks", &token, &json!({"name": "Other"}))
            .await
            .problem(403, "forbidden");
    }
    for role in [Role::Coordinator, Role::Commissioner] {
        let token = app.token(role, None);
        let listed = app.get("/v1/networks", &token).await;
        assert_eq!(listed.body["items"][0]["id"], json!(pcn), "{}", listed.text);
        assert_eq!(
            app.get(&format!("/v1/networks/{pcn}"), &token).await.body["name"],
            "Bury North PCN"
        );
    }
    for role in [Role::Referrer, Role::Partner] {
        let token = app.member(role).await;
        app.get("/v1/networks", &token)
            .await
            .problem(403, "forbidden");
        app.get(&format!("/v1/networks/{pcn}"), &token)
            .await
            .problem(403, "forbidden");
    }

    // Registered in the network, or put in it later.
    let a = app
        .post(
            "/v1/organisations",
            &admin,
            &json!({"name": "Practice A", "kind": "gp_practice", "network_id": pcn}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.body["network_id"], json!(pcn));
    let unknown = app
        .post(
            "/v1/organisations",
            &admin,
            &json!({"name": "Practice X", "kind": "gp_practice", "network_id": Uuid::now_v7()}),
        )
        .await;
    assert_eq!(
        unknown.field_errors(),
        [("/network_id".to_owned(), "unknown_network".to_owned())]
    );
    let b = app.organisation("Practice B", "gp_practice").await;
    let path = format!("/v1/organisations/{b}/network");
    let joined = app
        .change(
            Method::PUT,
            &path,
            &admin,
            1,
            Some(&json!({"network_id": pcn})),
        )
        .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.text);
    assert_eq!(joined.body["network_id"], json!(pcn));
    assert_eq!(joined.header("etag"), Some("\"2\""));
    app.change(
        Method::PUT,
        &path,
        &admin,
        1,
        Some(&json!({"network_id": pcn})),
    )
    .await
    .problem(412, "precondition_failed");
    app.change(
        Method::PUT,
        &path,
        &app.coordinator(),
        2,
        Some(&json!({"network_id": pcn})),
    )
    .await
    .problem(403, "forbidden");
    let members = app
        .get(
            &format!("/v1/organisations?network_id={pcn}"),
            &app.coordinator(),
        )
        .await;
    assert_eq!(
        members.body["items"].as_array().map(Vec::len),
        Some(2),
        "{}",
        members.text
    );
    let left = app.change(Method::DELETE, &path, &admin, 2, None).await;
    assert_eq!(left.status, StatusCode::OK, "{}", left.text);
    assert_eq!(left.body["network_id"], json!(null));
    let members = app
        .get(
            &format!("/v1/organisations?network_id={pcn}"),
            &app.coordinator(),
        )
        .await;
    assert_eq!(members.body["items"].as_array().map(Vec::len), Some(1));
}

/// Two practices' four referrals each are too few to publish; the network's eight are not.
/// An organisation's earlier referrals count for the network it joins, and stop counting for
/// the one it leaves.
#[tokio::test]
async fn a_networks_figures_are_published_where_its_practices_are_suppressed() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let pcn = app
        .post("/v1/networks", &admin, &json!({"name": "Bury North PCN"}))
        .await
        .id();
    let a = app.organisation("Practice A", "gp_practice").await;
    let b = app.organisation("Practice B", "gp_practice").await;
    for (org, tag) in [(a, "A"), (b, "B")] {
        for i in 0..4 {
            let sent = app
                .refer(&app.referrer(org), &referral_body(&format!("{tag}-{i}")))
                .await;
            assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
        }
    }
    for org in [a, b] {
        let joined = app
            .change(
                Method::PUT,
                &format!("/v1/organisations/{org}/network"),
                &admin,
                1,
                Some(&json!({"network_id": pcn})),
            )
            .await;
        assert_eq!(joined.status, StatusCode::OK, "{}", joined.text);
    }
    let today = chrono::Utc::now().date_naive();
    let period = format!("from={today}&to={today}");
    let commissioner = app.token(Role::Commissioner, None);
    let practice = activity(
        &app,
        &commissioner,
        &format!("{period}&referrer_org_id={a}"),
    )
    .await;
    assert_eq!(practice["referrals_received"], json!(null), "suppressed");
    let network = activity(&app, &commissioner, &format!("{period}&network_id={pcn}")).await;
    assert_eq!(network["network_id"], json!(pcn));
    // Eight, rounded to the nearest five.
    assert_eq!(network["referrals_received"], 10, "{network}");
    // Staff see it exact.
    let exact = app
        .get(
            &format!("/v1/reports/activity?{period}&network_id={pcn}"),
            &admin,
        )
        .await;
    assert_eq!(exact.body["referrals_received"], 8);
    assert_eq!(exact.body["people_referred"], 1);

    // Practice B leaves: its referrals leave the network's figures.
    app.change(
        Method::DELETE,
        &format!("/v1/organisations/{b}/network"),
        &admin,
        2,
        None,
    )
    .await;
    let exact = app
        .get(
            &format!("/v1/reports/activity?{period}&network_id={pcn}"),
            &admin,
        )
        .await;
    assert_eq!(exact.body["referrals_received"], 4);

    let both = app
        .get(
            &format!("/v1/reports/activity?{period}&network_id={pcn}&referrer_org_id={a}"),
            &admin,
        )
        .await;
    both.problem(400, "invalid_parameter");
    assert_eq!(
        both.field_errors(),
        [("network_id".to_owned(), "one_scope".to_owned())]
    );
}

/// On PostgreSQL a move between networks and a referral received from the organisation queue
/// on one lock. Without it, a referral counted while the move listed the organisation's
/// referrals kept its figures under the network it left (until `linkwell retotal`). SQLite's
/// writers are serialised, so there the two never overlap.
#[tokio::test]
async fn a_network_move_and_a_referral_from_the_organisation_queue() {
    let app = TestApp::spawn().await;
    if crate::support::backend() != "postgres" {
        return;
    }
    let admin = app.admin();
    let pcn = app
        .post("/v1/networks", &admin, &json!({"name": "Bury East PCN"}))
        .await
        .id();
    let practice = app.organisation("Practice Q", "gp_practice").await;
    let key = format!("hashtextextended('organisation-network:{practice}', 0)");
    let mut raw = app.db();

    // A referral in flight (the lock held shared): the move waits for it, then counts it.
    let moved = queued(
        &mut raw,
        &format!("pg_advisory_xact_lock_shared({key})"),
        app.client
            .put(app.url(&format!("/v1/organisations/{practice}/network")))
            .bearer_auth(&admin)
            .header("if-match", "\"1\"")
            .json(&json!({"network_id": pcn})),
        "the move waits for the referral in flight",
    )
    .await;
    assert_eq!(moved, StatusCode::OK);

    // A move in flight (the lock held alone): a referral from the organisation waits for it.
    let sent = queued(
        &mut raw,
        &format!("pg_advisory_xact_lock({key})"),
        app.client
            .post(app.url("/v1/referrals"))
            .bearer_auth(app.referrer(practice))
            .json(&referral_body("Q-1")),
        "the referral waits for the move in flight",
    )
    .await;
    assert_eq!(sent, StatusCode::CREATED);
    let today = chrono::Utc::now().date_naive();
    let exact = activity(
        &app,
        &admin,
        &format!("from={today}&to={today}&network_id={pcn}"),
    )
    .await;
    assert_eq!(exact["referrals_received"], 1, "{exact}");
}

/// Sends `request` while a raw transaction holds `lock` (an advisory lock call), checks that
/// it waits, then commits and answers its status.
async fn queued(
    raw: &mut linkwell_persistence::DbConnection,
    lock: &str,
    request: reqwest::RequestBuilder,
    waits: &str,
) -> StatusCode {
    use diesel::RunQueryDsl;
    diesel::sql_query("BEGIN").execute(raw).unwrap();
    diesel::sql_query(format!("SELECT {lock}::text"))
        .execute(raw)
        .unwrap();
    let sent = tokio::spawn(async move { request.send().await.unwrap().status() });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!sent.is_finished(), "{waits}");
    diesel::sql_query("COMMIT").execute(raw).unwrap();
    sent.await.unwrap()
}
