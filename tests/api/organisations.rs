use linkwell_domain::Role;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::TestApp;

#[tokio::test]
async fn an_admin_registers_an_organisation() {
    let app = TestApp::spawn().await;
    let reply = app
        .post(
            "/v1/organisations",
            &app.admin(),
            &json!({"name": "  Riverside Surgery ", "kind": "gp_practice", "ods_code": "a81001"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let id = reply.id();
    assert_eq!(
        reply.header("location"),
        Some(format!("/v1/organisations/{id}").as_str())
    );
    assert_eq!(reply.header("etag"), Some("\"1\""));
    let body = &reply.body;
    assert_eq!(body["name"], "Riverside Surgery");
    assert_eq!(body["kind"], "gp_practice");
    assert_eq!(body["ods_code"], "A81001");
    assert_eq!(body["version"], 1);
    assert_eq!(body["created_at"], body["updated_at"]);
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "created_at",
            "id",
            "kind",
            "name",
            "network_id",
            "ods_code",
            "updated_at",
            "version"
        ]
    );

    let read = app
        .get(&format!("/v1/organisations/{id}"), &app.coordinator())
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body, reply.body);
    assert_eq!(read.header("etag"), Some("\"1\""));
}

#[tokio::test]
async fn an_ods_code_is_registered_once() {
    let app = TestApp::spawn().await;
    let body = json!({"name": "Riverside", "kind": "gp_practice", "ods_code": "A81001"});
    let first = app.post("/v1/organisations", &app.admin(), &body).await;
    let again = app
        .post(
            "/v1/organisations",
            &app.admin(),
            &json!({"name": "Other", "kind": "agency", "ods_code": "a81001"}),
        )
        .await;
    let problem = again.problem(409, "duplicate");
    assert_eq!(problem["existing_id"], first.body["id"]);
}

#[tokio::test]
async fn organisation_fields_are_validated() {
    let app = TestApp::spawn().await;
    let reply = app
        .post(
            "/v1/organisations",
            &app.admin(),
            &json!({"name": " ", "kind": "charity", "ods_code": "A-1"}),
        )
        .await;
    reply.problem(422, "validation_failed");
    assert_eq!(
        reply.field_errors(),
        [
            ("/kind".into(), "unknown_code".into()),
            ("/name".into(), "blank".into()),
            ("/ods_code".into(), "ods_code_format".into()),
        ]
    );
    let reply = app
        .post(
            "/v1/organisations",
            &app.admin(),
            &json!({"name": "X", "kind": "partner", "id": Uuid::new_v4()}),
        )
        .await;
    assert_eq!(
        reply.field_errors(),
        [("/id".into(), "unknown_field".into())]
    );
}

#[tokio::test]
async fn only_admins_register_and_only_staff_read() {
    let app = TestApp::spawn().await;
    let id = app.organisation("Citizens Advice", "partner").await;
    let practice = app.organisation("Practice", "gp_practice").await;
    let body = json!({"name": "X", "kind": "partner"});
    for (role, org) in [
        (Role::Coordinator, None),
        (Role::Referrer, Some(practice)),
        (Role::Partner, Some(id)),
        (Role::Commissioner, None),
    ] {
        let token = app.token(role, org);
        app.post("/v1/organisations", &token, &body)
            .await
            .problem(403, "forbidden");
    }
    for role in [Role::Referrer, Role::Partner, Role::Commissioner] {
        let token = app.member(role).await;
        app.get("/v1/organisations", &token)
            .await
            .problem(403, "forbidden");
        app.get(&format!("/v1/organisations/{id}"), &token)
            .await
            .problem(403, "forbidden");
    }
}

#[tokio::test]
async fn an_unknown_organisation_is_404() {
    let app = TestApp::spawn().await;
    let reply = app
        .get(
            &format!("/v1/organisations/{}", Uuid::new_v4()),
            &app.admin(),
        )
        .await;
    reply.problem(404, "not_found");
}

#[tokio::test]
async fn organisations_list_newest_first_in_pages_and_filter_by_kind() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for (i, kind) in ["gp_practice", "partner", "partner", "agency", "partner"]
        .iter()
        .enumerate()
    {
        ids.push(app.organisation(&format!("Org {i}"), kind).await);
    }
    let token = app.coordinator();
    let first = app.get("/v1/organisations?limit=2", &token).await;
    assert_eq!(first.status, StatusCode::OK);
    let page_ids = |r: &crate::support::Reply| -> Vec<Uuid> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| Uuid::parse_str(o["id"].as_str().unwrap()).unwrap())
            .collect()
    };
    assert_eq!(page_ids(&first), [ids[4], ids[3]]);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = app
        .get(
            &format!("/v1/organisations?limit=2&cursor={cursor}"),
            &token,
        )
        .await;
    assert_eq!(page_ids(&second), [ids[2], ids[1]]);
    let cursor = second.body["next_cursor"].as_str().unwrap();
    let third = app
        .get(
            &format!("/v1/organisations?limit=2&cursor={cursor}"),
            &token,
        )
        .await;
    assert_eq!(page_ids(&third), [ids[0]]);
    assert_eq!(third.body["next_cursor"], json!(null));

    let partners = app.get("/v1/organisations?kind=partner", &token).await;
    assert_eq!(page_ids(&partners), [ids[4], ids[2], ids[1]]);
    // A cursor from one filter does not work with another.
    let cursor = first.body["next_cursor"].as_str().unwrap();
    app.get(
        &format!("/v1/organisations?kind=partner&cursor={cursor}"),
        &token,
    )
    .await
    .problem(400, "invalid_parameter");
}
