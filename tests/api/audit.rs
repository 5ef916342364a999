//! Every access to a referral, allowed or not, leaves exactly one audit row; rows cannot change.

use diesel::RunQueryDsl;
use linkwell_domain::Role;
use linkwell_persistence::audit;
use uuid::Uuid;

use crate::support::{TestApp, referral_body};

fn rows(app: &TestApp) -> Vec<(String, String, Option<Uuid>, String, String)> {
    let mut events = audit::recent(&mut app.db(), 1000).unwrap();
    events.reverse();
    events
        .into_iter()
        .map(|e| {
            (
                e.action,
                e.actor_role,
                e.resource_id,
                e.outcome,
                e.request_id,
            )
        })
        .collect()
}

#[tokio::test]
async fn each_referral_access_writes_one_row() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let other = app.organisation("Other", "gp_practice").await;
    let token = app.referrer(org);
    let created = app.refer(&token, &referral_body("A-1")).await;
    let id = created.id();
    let read = app.get(&format!("/v1/referrals/{id}"), &token).await;
    let list = app.get("/v1/referrals", &token).await;
    let hidden = app
        .get(&format!("/v1/referrals/{id}"), &app.referrer(other))
        .await;
    let duplicate = app.refer(&token, &referral_body("A-1")).await;
    let partner = app.member(Role::Partner).await;
    let denied = app.get(&format!("/v1/referrals/{id}"), &partner).await;
    // Rejected before the database: no row.
    let mut bad = referral_body("A-2");
    bad["reasons"] = serde_json::json!([]);
    app.refer(&token, &bad)
        .await
        .problem(422, "validation_failed");

    let request_id = |r: &crate::support::Reply| r.header("x-request-id").unwrap().to_owned();
    assert_eq!(
        rows(&app),
        [
            (
                "referral.create".into(),
                "referrer".into(),
                Some(id),
                "success".into(),
                request_id(&created)
            ),
            (
                "referral.read".into(),
                "referrer".into(),
                Some(id),
                "success".into(),
                request_id(&read)
            ),
            (
                "referral.list".into(),
                "referrer".into(),
                None,
                "success".into(),
                request_id(&list)
            ),
            (
                "referral.read".into(),
                "referrer".into(),
                Some(id),
                "not_found".into(),
                request_id(&hidden)
            ),
            (
                "referral.create".into(),
                "referrer".into(),
                Some(id),
                "conflict".into(),
                request_id(&duplicate)
            ),
            (
                "referral.read".into(),
                "partner".into(),
                Some(id),
                "not_found".into(),
                request_id(&denied)
            ),
        ]
    );
    let events = audit::recent(&mut app.db(), 1000).unwrap();
    let listed = events.iter().find(|e| e.action == "referral.list").unwrap();
    assert_eq!(
        listed.resource_ids,
        [id],
        "a list names every referral it showed"
    );
    let first = events.last().unwrap();
    assert_eq!(first.actor_sub, "referrer-user");
    assert_eq!(first.actor_org_id, Some(org));
}

#[tokio::test]
async fn audit_rows_cannot_be_changed_or_deleted() {
    let app = TestApp::spawn().await;
    app.refer(&app.coordinator(), &referral_body("A-1")).await;
    let mut conn = app.db();
    let update =
        diesel::sql_query("UPDATE audit_events SET outcome = 'tampered'").execute(&mut conn);
    assert!(update.is_err());
    let delete = diesel::sql_query("DELETE FROM audit_events").execute(&mut conn);
    assert!(delete.is_err());
    assert_eq!(audit::recent(&mut conn, 10).unwrap().len(), 1);
}
