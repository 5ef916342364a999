//! Every error, including the framework's own, is problem+json with the right status.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestApp, referral_body};

#[tokio::test]
async fn unknown_routes_are_404_problems() {
    let app = TestApp::spawn().await;
    let reply = app.call(Method::GET, "/v1/nowhere", None, None).await;
    reply.problem(404, "not_found");
    let reply = app.call(Method::GET, "/", None, None).await;
    reply.problem(404, "not_found");
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow() {
    let app = TestApp::spawn().await;
    let reply = app.call(Method::DELETE, "/v1/referrals", None, None).await;
    reply.problem(405, "method_not_allowed");
    assert_eq!(reply.header("allow"), Some("GET, POST, HEAD"));
    let reply = app
        .call(
            Method::PUT,
            &format!("/v1/referrals/{}", uuid::Uuid::new_v4()),
            None,
            None,
        )
        .await;
    reply.problem(405, "method_not_allowed");
    assert_eq!(reply.header("allow"), Some("GET, PATCH, HEAD"));
    let reply = app.call(Method::POST, "/health/live", None, None).await;
    reply.problem(405, "method_not_allowed");
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let app = TestApp::spawn().await;
    let get = app.get("/v1/referrals", &app.coordinator()).await;
    let head = app
        .call(
            Method::HEAD,
            "/v1/referrals",
            Some(&app.coordinator()),
            None,
        )
        .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.text, "");
    assert_eq!(head.header("content-type"), get.header("content-type"));
    assert_eq!(
        head.header("content-length"),
        Some(get.text.len().to_string().as_str())
    );
    let live = app.call(Method::HEAD, "/health/live", None, None).await;
    assert_eq!(live.status, StatusCode::OK);
}

async fn raw_post(
    app: &TestApp,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> crate::support::Reply {
    let token = app.coordinator();
    let mut request = app
        .client
        .post(app.url("/v1/referrals"))
        .bearer_auth(token)
        .body(body);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    crate::support::Reply {
        status,
        body: serde_json::from_str(&text).unwrap_or_default(),
        headers,
        text,
    }
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = TestApp::spawn().await;
    for body in [&b"{"[..], b"{\"person\": }", b"", b"   ", b"{} trailing"] {
        let reply = raw_post(&app, Some("application/json"), body.to_vec()).await;
        reply.problem(400, "malformed_json");
    }
}

#[tokio::test]
async fn non_json_content_types_are_415() {
    let app = TestApp::spawn().await;
    let body = serde_json::to_vec(&referral_body("X")).unwrap();
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let reply = raw_post(&app, ct, body.clone()).await;
        reply.problem(415, "unsupported_media_type");
    }
    let ok = raw_post(
        &app,
        Some("application/vnd.linkwell+json; charset=utf-8"),
        body,
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);
}

#[tokio::test]
async fn bodies_over_64_kib_are_413_and_store_nothing() {
    let app = TestApp::spawn().await;
    let mut body = referral_body("BIG");
    body["summary"] = json!("x".repeat(70 * 1024));
    let reply = raw_post(
        &app,
        Some("application/json"),
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    reply.problem(413, "payload_too_large");
    let list = app.get("/v1/referrals", &app.coordinator()).await;
    assert_eq!(list.body["items"], json!([]));
}

#[tokio::test]
async fn shape_errors_are_422_with_pointers() {
    let app = TestApp::spawn().await;
    let token = app.coordinator();
    let mut wrong_type = referral_body("A");
    wrong_type["reasons"] = json!("loneliness");
    let reply = app.refer(&token, &wrong_type).await;
    reply.problem(422, "validation_failed");
    assert_eq!(
        reply.field_errors(),
        [("/reasons".into(), "invalid_type".into())]
    );

    let mut missing = referral_body("A");
    missing["person"]
        .as_object_mut()
        .unwrap()
        .remove("date_of_birth");
    let reply = app.refer(&token, &missing).await;
    assert_eq!(
        reply.field_errors(),
        [("/person/date_of_birth".into(), "required".into())]
    );

    let reply = app.refer(&token, &json!([1, 2])).await;
    reply.problem(422, "validation_failed");
}

#[tokio::test]
async fn bad_path_and_query_parameters_are_400() {
    let app = TestApp::spawn().await;
    let token = app.coordinator();
    let reply = app.get("/v1/referrals/not-a-uuid", &token).await;
    reply.problem(400, "invalid_parameter");
    assert_eq!(reply.field_errors(), [("id".into(), "invalid_id".into())]);
    for (query, parameter) in [
        ("limit=101", "limit"),
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("status=lost", "status"),
        ("reason=boredom", "reason"),
        ("source=internet", "source"),
        ("received_from=yesterday", "received_from"),
        ("colour=blue", "colour"),
        ("cursor=abc", "cursor"),
    ] {
        let reply = app.get(&format!("/v1/referrals?{query}"), &token).await;
        reply.problem(400, "invalid_parameter");
        assert_eq!(
            reply.field_errors()[0].0,
            parameter,
            "{query}: {}",
            reply.text
        );
    }
}

#[tokio::test]
async fn error_bodies_never_show_internals() {
    let app = TestApp::spawn().await;
    let token = app.coordinator();
    let replies = [
        app.get("/v1/referrals/not-a-uuid", &token).await,
        app.refer(&token, &json!({"person": 1})).await,
        app.call(Method::GET, "/v1/referrals", Some("garbage"), None)
            .await,
    ];
    for reply in replies {
        for leak in ["panicked", "diesel", "SELECT", ".rs", "src/", "serde"] {
            assert!(!reply.text.contains(leak), "{leak} in {}", reply.text);
        }
    }
}
