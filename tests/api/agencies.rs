//! Agencies in the network (Living Well): a partner organisation's user refers a person onward
//! into the service, and reads that referral back as a referrer does, and nothing else.

use linkwell_domain::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestApp, referral_body};

#[tokio::test]
async fn a_partner_refers_onward_and_sees_only_its_own_referrals_as_a_referrer_does() {
    let app = TestApp::spawn().await;
    let advice = app.organisation("Citizens Advice Bury", "partner").await;
    let housing = app.organisation("Bury Housing Support", "partner").await;
    let gp = app.organisation("The Surgery", "gp_practice").await;
    let partner = app.token(Role::Partner, Some(advice));
    let other_partner = app.token(Role::Partner, Some(housing));

    // With consent, by its own route: a partner's referral comes by `other_agency`.
    let mut body = referral_body("CAB-1");
    body.as_object_mut().unwrap().remove("source");
    let sent = app.refer(&partner, &body).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
    let id = sent.id();
    assert_eq!(sent.body["source"], "other_agency");
    assert_eq!(sent.body["referrer_org_id"], json!(advice));
    for staff_only in [
        "person_id",
        "assignee_id",
        "team_id",
        "possible_duplicate_of",
    ] {
        assert!(
            sent.body.get(staff_only).is_none(),
            "{staff_only}: {}",
            sent.text
        );
    }
    let mut claimed = referral_body("CAB-2");
    claimed["source"] = json!("gp_practice");
    let refused = app.refer(&partner, &claimed).await;
    assert_eq!(
        refused.field_errors(),
        [("/source".to_owned(), "source_not_allowed".to_owned())]
    );
    let mut no_consent = referral_body("CAB-3");
    no_consent.as_object_mut().unwrap().remove("source");
    no_consent["consent_to_share"] = json!(false);
    app.refer(&partner, &no_consent)
        .await
        .problem(422, "validation_failed");

    // It reads back and lists its own referrals, and only those.
    let from_gp = app.accepted(gp, "GP-1").await;
    let read = app.get(&format!("/v1/referrals/{id}"), &partner).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    let listed = app.get("/v1/referrals", &partner).await;
    let ids: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.to_string()]);
    let named = app
        .get(&format!("/v1/referrals?referrer_org_id={gp}"), &partner)
        .await;
    assert_eq!(named.body["items"], json!([]));
    app.get(&format!("/v1/referrals/{from_gp}"), &partner)
        .await
        .problem(404, "not_found");
    // Another partner sees none of it.
    app.get(&format!("/v1/referrals/{id}"), &other_partner)
        .await
        .problem(404, "not_found");
    let theirs = app.get("/v1/referrals", &other_partner).await;
    assert_eq!(theirs.body["items"], json!([]));
    // Nor the staff-only filters, nor the staff's work on it.
    let filtered = app.get("/v1/referrals?assignee=none", &partner).await;
    filtered.problem(400, "invalid_parameter");
    for path in [
        format!("/v1/referrals/{id}/history"),
        format!("/v1/referrals/{id}/sessions"),
        format!("/v1/referrals/{id}/plan"),
        format!("/v1/referrals/{id}/consent"),
    ] {
        app.get(&path, &partner).await.problem(403, "forbidden");
    }

    // Only staff accept; the partner may withdraw its own.
    app.transition(id, &partner, 1, &json!({"to": "accepted"}))
        .await
        .problem(403, "forbidden");
    app.transition(
        from_gp,
        &partner,
        2,
        &json!({"to": "withdrawn", "reason": "Sent in error"}),
    )
    .await
    .problem(404, "not_found");
    let withdrawn = app
        .transition(
            id,
            &partner,
            1,
            &json!({"to": "withdrawn", "reason": "The person moved away"}),
        )
        .await;
    assert_eq!(withdrawn.status, StatusCode::OK, "{}", withdrawn.text);
    assert_eq!(withdrawn.body["status"], "withdrawn");

    // The trail names the partner's onward referral, and the report counts it as an agency's.
    let trail = app
        .get(
            &format!("/v1/audit-events?referral_id={id}&action=referral.create"),
            &app.admin(),
        )
        .await;
    assert_eq!(
        trail.body["items"][0]["actor_role"], "partner",
        "{}",
        trail.text
    );
    let today = chrono::Utc::now().date_naive();
    let report = app
        .get(
            &format!("/v1/reports/activity?from={today}&to={today}"),
            &app.admin(),
        )
        .await;
    assert_eq!(
        report.body["by_source"]["other_agency"], 1,
        "{}",
        report.text
    );
}
