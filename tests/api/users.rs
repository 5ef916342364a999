//! Users: registration rules, reading, and deactivation that stops tokens everywhere.

use std::time::Duration;

use linkwell_domain::Role;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::support::TestApp;

#[tokio::test]
async fn admins_register_users_and_staff_read_them() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Citizens Advice", "partner").await;
    let reply = app
        .post(
            "/v1/users",
            &app.admin(),
            &json!({"email": "Jo.Link@Example.ORG", "display_name": " Jo Link ", "role": "coordinator"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let id = reply.id();
    assert_eq!(
        reply.header("location"),
        Some(format!("/v1/users/{id}").as_str())
    );
    let created_at = reply.body["created_at"].as_str().unwrap().to_owned();
    assert_eq!(
        reply.body,
        json!({
            "id": id, "email": "Jo.Link@example.org", "display_name": "Jo Link",
            "role": "coordinator", "org_id": null, "active": true,
            "created_at": created_at, "updated_at": created_at, "version": 1
        })
    );
    let read = app
        .get(&format!("/v1/users/{id}"), &app.coordinator())
        .await;
    assert_eq!(read.body, reply.body);
    assert_eq!(read.header("etag"), Some("\"1\""));

    let again = app
        .post(
            "/v1/users",
            &app.admin(),
            &json!({"email": "Jo.Link@example.org", "display_name": "Jo", "role": "admin"}),
        )
        .await;
    assert_eq!(again.problem(409, "duplicate")["existing_id"], json!(id));

    let cases = [
        (
            json!({"email": "p@example.org", "display_name": "P", "role": "partner"}),
            "/org_id",
            "org_required",
        ),
        (
            json!({"email": "c@example.org", "display_name": "C", "role": "coordinator", "org_id": org}),
            "/org_id",
            "org_not_applicable",
        ),
        (
            json!({"email": "r@example.org", "display_name": "R", "role": "referrer", "org_id": Uuid::new_v4()}),
            "/org_id",
            "unknown_organisation",
        ),
        (
            json!({"email": "x@example.org", "display_name": "X", "role": "boss"}),
            "/role",
            "unknown_code",
        ),
        (
            json!({"email": "not an email", "display_name": "X", "role": "admin"}),
            "/email",
            "email_format",
        ),
        (
            json!({"email": "y@example.org", "display_name": "X", "role": "admin", "active": false}),
            "/active",
            "unknown_field",
        ),
    ];
    for (body, pointer, code) in cases {
        let reply = app.post("/v1/users", &app.admin(), &body).await;
        reply.problem(422, "validation_failed");
        assert_eq!(
            reply.field_errors(),
            [(pointer.to_owned(), code.to_owned())],
            "{body}"
        );
    }
    let partner = app
        .post(
            "/v1/users",
            &app.admin(),
            &json!({"email": "p@example.org", "display_name": "P", "role": "partner", "org_id": org}),
        )
        .await;
    assert_eq!(partner.status, 201);

    let list = app.get("/v1/users?role=partner", &app.coordinator()).await;
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["org_id"], json!(org));
    let all = app.get("/v1/users?limit=1", &app.admin()).await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 1);
    assert!(all.body["next_cursor"].is_string());
    app.get("/v1/users?active=maybe", &app.admin())
        .await
        .problem(400, "invalid_parameter");

    for role in [Role::Referrer, Role::Partner, Role::Commissioner] {
        let token = app.member(role).await;
        app.get("/v1/users", &token).await.problem(403, "forbidden");
        app.get(&format!("/v1/users/{id}"), &token)
            .await
            .problem(403, "forbidden");
    }
    app.post(
        "/v1/users",
        &app.coordinator(),
        &json!({"email": "z@example.org", "display_name": "Z", "role": "admin"}),
    )
    .await
    .problem(403, "forbidden");
}

#[tokio::test]
async fn a_deactivated_users_tokens_stop_working_on_every_instance() {
    let app = TestApp::spawn().await;
    let other = app.another_instance().await;
    let (user, token) = app.user(Role::Coordinator, None).await;
    assert_eq!(app.get("/v1/referrals", &token).await.status, 200);
    assert_eq!(other.get("/v1/referrals", &token).await.status, 200);

    let deactivated = app
        .call(
            Method::POST,
            &format!("/v1/users/{user}/deactivate"),
            Some(&app.admin()),
            None,
        )
        .await;
    assert_eq!(deactivated.status, 200, "{}", deactivated.text);
    assert_eq!(deactivated.body["active"], false);
    assert_eq!(deactivated.body["version"], 2);
    // At once where it was deactivated.
    let refused = app.get("/v1/referrals", &token).await;
    refused.problem(401, "unauthorized");
    assert_eq!(
        refused.header("www-authenticate"),
        Some(r#"Bearer realm="linkwell", error="invalid_token""#)
    );
    // Within the refresh interval (200 ms in tests, 10 s by default) everywhere else.
    tokio::time::sleep(Duration::from_millis(600)).await;
    other
        .get("/v1/referrals", &token)
        .await
        .problem(401, "unauthorized");
    // Tokens whose subject is not a user keep working.
    assert_eq!(
        app.get("/v1/referrals", &app.coordinator()).await.status,
        200
    );

    let again = app
        .call(
            Method::POST,
            &format!("/v1/users/{user}/deactivate"),
            Some(&app.admin()),
            None,
        )
        .await;
    assert_eq!(
        again.body["version"], 2,
        "deactivating twice changes nothing"
    );
    let back = app
        .call(
            Method::POST,
            &format!("/v1/users/{user}/reactivate"),
            Some(&app.admin()),
            None,
        )
        .await;
    assert_eq!(back.body["active"], true);
    assert_eq!(app.get("/v1/referrals", &token).await.status, 200);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(other.get("/v1/referrals", &token).await.status, 200);

    app.call(
        Method::POST,
        &format!("/v1/users/{}/deactivate", Uuid::new_v4()),
        Some(&app.admin()),
        None,
    )
    .await
    .problem(404, "not_found");
    app.call(
        Method::POST,
        &format!("/v1/users/{user}/deactivate"),
        Some(&app.coordinator()),
        None,
    )
    .await
    .problem(403, "forbidden");
}
