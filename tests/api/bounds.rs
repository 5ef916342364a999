//! The bounds the contract documents are the bounds the server keeps: parameters past their
//! `maxLength`, ids in forms the contract's pattern refuses, and problems that would quote
//! too much of a request.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::{TestApp, referral_body};

#[tokio::test]
async fn ids_in_any_form_but_the_hyphenated_one_are_400() {
    let app = TestApp::spawn().await;
    let coordinator = app.coordinator();
    let id = app.refer(&coordinator, &referral_body("B-1")).await.id();
    let hyphenated = id.hyphenated().to_string();
    assert_eq!(
        app.get(&format!("/v1/referrals/{hyphenated}"), &coordinator)
            .await
            .status,
        StatusCode::OK
    );
    // Uuid::from_str reads every one of these as the same id.
    for other in [
        id.simple().to_string(),
        format!("%7B{hyphenated}%7D"),
        format!("urn:uuid:{hyphenated}"),
    ] {
        let reply = app
            .get(&format!("/v1/referrals/{other}"), &coordinator)
            .await;
        reply.problem(400, "invalid_parameter");
        let expected = if other.len() > 36 {
            "too_long"
        } else {
            "invalid_id"
        };
        assert_eq!(
            reply.field_errors(),
            [("id".to_owned(), expected.to_owned())],
            "{other}"
        );
    }
    // A query parameter documented as an id likewise.
    let reply = app
        .get(
            &format!("/v1/referrals?referrer_org_id={}", id.simple()),
            &coordinator,
        )
        .await;
    reply.problem(400, "invalid_parameter");
    assert_eq!(
        reply.field_errors(),
        [("referrer_org_id".to_owned(), "invalid_id".to_owned())]
    );
}

#[tokio::test]
async fn parameters_and_headers_past_their_documented_length_are_400() {
    let app = TestApp::spawn().await;
    let coordinator = app.coordinator();
    let id = app.refer(&coordinator, &referral_body("B-2")).await.id();

    let cursor = format!("{}.{}", "A".repeat(100), "B".repeat(20));
    let reply = app
        .get(&format!("/v1/referrals?cursor={cursor}"), &coordinator)
        .await;
    reply.problem(400, "invalid_parameter");
    assert_eq!(
        reply.field_errors(),
        [("cursor".to_owned(), "too_long".to_owned())]
    );

    // Well formed by the pattern, longer than the bound.
    let tags = vec!["\"1\""; 70].join(", ");
    let reply = app
        .send(
            Method::POST,
            &format!("/v1/referrals/{id}/transitions"),
            &coordinator,
            Some(&serde_json::json!({"to": "accepted"})),
            &[("if-match", &tags)],
        )
        .await;
    reply.problem(400, "invalid_parameter");
    assert_eq!(
        reply.field_errors(),
        [("If-Match".to_owned(), "invalid_header".to_owned())]
    );

    let since = format!("2026-01-01T00:00:00.{}Z", "1".repeat(20));
    let reply = app
        .get(
            &format!("/v1/referrals?updated_since={since}"),
            &coordinator,
        )
        .await;
    reply.problem(400, "invalid_parameter");
    assert_eq!(
        reply.field_errors(),
        [("updated_since".to_owned(), "too_long".to_owned())]
    );
}

#[tokio::test]
async fn a_problem_never_quotes_more_than_its_documented_bounds() {
    let app = TestApp::spawn().await;
    let coordinator = app.coordinator();
    let name = "x".repeat(5000);
    let reply = app
        .get(&format!("/v1/referrals?{name}=1"), &coordinator)
        .await;
    reply.problem(400, "invalid_parameter");
    let text = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
    assert!(text(&reply.body["detail"]) <= 2000, "{}", reply.text.len());
    for error in reply.body["errors"].as_array().into_iter().flatten() {
        assert!(text(&error["parameter"]) <= 500);
        assert!(text(&error["message"]) <= 1000);
    }
}

#[tokio::test]
async fn a_refused_token_spends_its_address_allowance() {
    let app = TestApp::spawn().await;
    let reply = app
        .call(Method::GET, "/v1/referrals", Some("not-a-token"), None)
        .await;
    reply.problem(401, "unauthorized");
    assert!(
        reply
            .header("ratelimit-policy")
            .is_some_and(|p| p.starts_with("\"refused\"")),
        "{:?}",
        reply.headers
    );
    assert!(reply.header("ratelimit").is_some());
}

#[tokio::test]
async fn ids_in_bodies_in_any_form_but_the_hyphenated_one_are_422() {
    let app = TestApp::spawn().await;
    let coordinator = app.coordinator();
    let created = app.refer(&coordinator, &referral_body("B-3")).await;
    let version = created.body["version"].as_i64().unwrap_or(1);
    let path = format!("/v1/referrals/{}/assignee", created.id());
    let user = uuid::Uuid::new_v4();
    for other in [
        user.simple().to_string(),
        format!("{{{user}}}"),
        format!("urn:uuid:{user}"),
    ] {
        let reply = app
            .change(
                Method::PUT,
                &path,
                &coordinator,
                version,
                Some(&serde_json::json!({ "user_id": other })),
            )
            .await;
        reply.problem(422, "validation_failed");
        assert_eq!(
            reply.field_errors(),
            [("/user_id".to_owned(), "invalid_id".to_owned())],
            "{other}"
        );
    }
}
