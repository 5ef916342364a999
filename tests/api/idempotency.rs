//! `Idempotency-Key` on referral creation.

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::{Reply, TestApp, referral_body};

async fn keyed(app: &TestApp, token: &str, key: &str, body: &serde_json::Value) -> Reply {
    let response = app
        .client
        .post(app.url("/v1/referrals"))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Reply {
        status,
        body: serde_json::from_str(&text).unwrap_or_default(),
        headers,
        text,
    }
}

async fn count(app: &TestApp) -> usize {
    let list = app.get("/v1/referrals?limit=100", &app.coordinator()).await;
    list.body["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_retry_returns_the_first_response_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let token = app.referrer(org);
    let first = keyed(&app, &token, "key-1", &referral_body("E-1")).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.header("idempotent-replayed"), None);
    // Same JSON value, different formatting and key order: still the same request.
    let mut reordered = serde_json::Map::new();
    for (k, v) in referral_body("E-1").as_object().unwrap().iter().rev() {
        reordered.insert(k.clone(), v.clone());
    }
    let retry = keyed(&app, &token, "key-1", &json!(reordered)).await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.text, first.text);
    assert_eq!(retry.header("location"), first.header("location"));
    assert_eq!(retry.header("etag"), Some("\"1\""));
    assert_eq!(count(&app).await, 1);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_422() {
    let app = TestApp::spawn().await;
    let token = app.coordinator();
    keyed(&app, &token, "key-2", &referral_body("E-1")).await;
    let other = keyed(&app, &token, "key-2", &referral_body("E-2")).await;
    other.problem(422, "idempotency_key_reused");
    assert_eq!(count(&app).await, 1);
}

#[tokio::test]
async fn keys_are_scoped_to_the_caller() {
    let app = TestApp::spawn().await;
    let a = app.referrer(app.organisation("A", "gp_practice").await);
    let b = app.referrer(app.organisation("B", "gp_practice").await);
    let from_a = keyed(&app, &a, "shared-key", &referral_body("E-1")).await;
    let from_b = keyed(&app, &b, "shared-key", &referral_body("E-1")).await;
    assert_eq!(from_b.status, StatusCode::CREATED);
    assert_eq!(from_b.header("idempotent-replayed"), None);
    assert_ne!(from_a.body["id"], from_b.body["id"]);
    assert_eq!(count(&app).await, 2);
}

#[tokio::test]
async fn a_bad_key_is_400() {
    let app = TestApp::spawn().await;
    let reply = keyed(
        &app,
        &app.coordinator(),
        &"k".repeat(256),
        &referral_body("E"),
    )
    .await;
    reply.problem(400, "invalid_parameter");
    assert_eq!(
        reply.field_errors(),
        [("Idempotency-Key".into(), "invalid_header".into())]
    );
}

#[tokio::test]
async fn twenty_concurrent_retries_create_exactly_one_referral() {
    let app = TestApp::spawn().await;
    let token = app.referrer(app.organisation("Practice", "gp_practice").await);
    let key = Uuid::new_v4().to_string();
    let body = referral_body("CONCURRENT-1");
    let replies = join_all((0..20).map(|_| keyed(&app, &token, &key, &body))).await;
    let ids: std::collections::BTreeSet<_> = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .map(|r| r.body["id"].to_string())
        .collect();
    for reply in &replies {
        assert!(
            reply.status == StatusCode::CREATED || reply.status == StatusCode::CONFLICT,
            "{}",
            reply.text
        );
    }
    assert_eq!(ids.len(), 1, "every success names the same referral");
    assert_eq!(
        replies.iter().filter(|r| r.status == StatusCode::CREATED && r.header("idempotent-replayed").is_none()).count(),
        1,
        "exactly one request created"
    );
    assert_eq!(count(&app).await, 1);
}
