//! The shared plan (Living Well): staff share the person's wellbeing plan with a connection's
//! partner as one of its consented fields; that partner reads what matters, strengths and the
//! goals, read-only, and adds progress notes to goals; no other partner reaches any of it; a
//! withdrawal of consent ends it.

use std::collections::BTreeSet;

use linkwell_domain::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Reply, TestApp};

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

fn ids(reply: &Reply) -> Vec<Uuid> {
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

async fn made(reply: Reply) -> Uuid {
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.id()
}

#[tokio::test]
async fn a_partner_reads_the_shared_plan_and_adds_progress_notes_until_consent_is_withdrawn() {
    let app = TestApp::spawn().await;
    let staff = app.coordinator();
    let practice = app.organisation("The Surgery", "gp_practice").await;
    let advice = app.organisation("Citizens Advice Bury", "partner").await;
    let housing = app.organisation("Bury Housing Support", "partner").await;
    let partner = app.token(Role::Partner, Some(advice));
    let other = app.token(Role::Partner, Some(housing));
    let referral = app.accepted(practice, "SP-1").await;
    let elsewhere = app.accepted(practice, "SP-2").await;
    let under = |rest: &str| format!("/v1/referrals/{referral}/{rest}");

    // The link worker writes the plan with the person, and two goals.
    let plan = app
        .send(
            Method::PUT,
            &under("plan"),
            &staff,
            Some(&json!({"what_matters": "Seeing my grandchildren",
                         "strengths": "A good cook"})),
            &[],
        )
        .await;
    assert_eq!(plan.status, 201, "{}", plan.text);
    let goal = |description: &str| {
        let body = json!({"description": description, "status": "active"});
        let path = under("plan/goals");
        let app = &app;
        let staff = &staff;
        async move { made(app.post(&path, staff, &body).await).await }
    };
    let rent = goal("Clear the rent arrears").await;
    let cooking = goal("Cook with the community kitchen").await;
    let foreign = made(
        app.post(
            &format!("/v1/referrals/{elsewhere}/plan/goals"),
            &staff,
            &json!({"description": "Someone else's goal"}),
        )
        .await,
    )
    .await;

    // The plan is shared with Citizens Advice; the housing connection shares a phone number.
    let connect = |org: Uuid, shared: Value| {
        let body = json!({"organisation_id": org, "need": "money_and_benefits",
                          "consent_to_share": true, "shared_fields": shared});
        let path = under("connections");
        let app = &app;
        let staff = &staff;
        async move { made(app.post(&path, staff, &body).await).await }
    };
    let shared = connect(advice, json!(["given_name", "wellbeing_plan"])).await;
    let unshared = connect(housing, json!(["phone"])).await;

    // The plan is a shared field, not a detail of the person.
    let seen = app
        .get(&format!("/v1/connections/{shared}"), &partner)
        .await;
    assert_eq!(seen.status, 200, "{}", seen.text);
    assert_eq!(
        seen.body["shared_fields"],
        json!(["given_name", "wellbeing_plan"])
    );
    assert_eq!(keys(&seen.body["person"]), BTreeSet::from(["given_name"]));

    // The partner reads the plan and its goals, as shared: nothing of who wrote what.
    let read = app
        .get(&format!("/v1/connections/{shared}/plan"), &partner)
        .await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(
        keys(&read.body),
        BTreeSet::from([
            "connection_id",
            "what_matters",
            "strengths",
            "agreed_at",
            "updated_at"
        ])
    );
    assert_eq!(read.body["connection_id"], json!(shared));
    assert_eq!(read.body["what_matters"], "Seeing my grandchildren");
    assert_eq!(read.body["strengths"], "A good cook");
    assert_eq!(read.body["agreed_at"], Value::Null);
    let goals = app
        .get(
            &format!("/v1/connections/{shared}/plan/goals?limit=1"),
            &partner,
        )
        .await;
    assert_eq!(ids(&goals), [rent]);
    assert_eq!(
        keys(&goals.body["items"][0]),
        BTreeSet::from(["id", "description", "target_date", "status", "updated_at"])
    );
    assert_eq!(goals.body["items"][0]["status"], "active");
    let cursor = goals.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!("/v1/connections/{shared}/plan/goals?cursor={cursor}"),
            &partner,
        )
        .await;
    assert_eq!(ids(&rest), [cooking]);
    assert_eq!(rest.body["next_cursor"], Value::Null);

    // Read-only: the plan and goals themselves stay the staff's.
    let forbidden = [
        app.get(&under("plan"), &partner).await,
        app.get(&under("plan/goals"), &partner).await,
        app.get(&format!("/v1/goals/{rent}"), &partner).await,
        app.change(
            Method::PATCH,
            &format!("/v1/goals/{rent}"),
            &partner,
            1,
            Some(&json!({"status": "achieved"})),
        )
        .await,
        app.get(&format!("/v1/goals/{rent}/progress-notes"), &partner)
            .await,
    ];
    for reply in &forbidden {
        reply.problem(403, "forbidden");
    }

    // It adds progress notes to the plan's goals, and only to those.
    let notes = format!("/v1/connections/{shared}/plan/progress-notes");
    let added = app
        .post(
            &notes,
            &partner,
            &json!({"goal_id": rent, "text": "First instalment paid."}),
        )
        .await;
    assert_eq!(added.status, 201, "{}", added.text);
    assert_eq!(added.header("location"), Some(notes.as_str()));
    let first = added.id();
    assert_eq!(added.body["goal_id"], json!(rent));
    assert_eq!(added.body["connection_id"], json!(shared));
    assert_eq!(added.body["author_role"], "partner");
    assert_eq!(added.body["author_org_id"], json!(advice));
    assert!(added.body["author"].is_string(), "{}", added.text);
    for goal_id in [foreign, Uuid::now_v7()] {
        let refused = app
            .post(
                &notes,
                &partner,
                &json!({"goal_id": goal_id, "text": "Misplaced."}),
            )
            .await;
        assert_eq!(
            refused.field_errors(),
            [("/goal_id".to_owned(), "unknown_goal".to_owned())]
        );
    }
    let blank = app
        .post(&notes, &partner, &json!({"goal_id": rent, "text": "  "}))
        .await;
    blank.problem(422, "validation_failed");
    // Staff may add one for the partner: the partner does not see who at the service wrote it.
    let for_them = made(
        app.post(
            &notes,
            &staff,
            &json!({"goal_id": cooking, "text": "Booked onto the kitchen course (by phone)."}),
        )
        .await,
    )
    .await;
    let listed = app.get(&notes, &partner).await;
    assert_eq!(ids(&listed), [first, for_them]);
    assert_eq!(listed.body["items"][1]["author_role"], "coordinator");
    assert_eq!(listed.body["items"][1]["author_org_id"], Value::Null);
    assert!(listed.body["items"][1].get("author").is_none());

    // No other partner reaches any of it, and a plan not shared is not shown.
    for path in [
        format!("/v1/connections/{shared}/plan"),
        format!("/v1/connections/{shared}/plan/goals"),
        notes.clone(),
    ] {
        app.get(&path, &other).await.problem(404, "not_found");
    }
    app.post(
        &notes,
        &other,
        &json!({"goal_id": rent, "text": "Not ours."}),
    )
    .await
    .problem(404, "not_found");
    let theirs = format!("/v1/connections/{unshared}/plan");
    for path in [
        theirs.clone(),
        format!("{theirs}/goals"),
        format!("{theirs}/progress-notes"),
    ] {
        app.get(&path, &other).await.problem(409, "plan_not_shared");
    }
    app.post(
        &format!("{theirs}/progress-notes"),
        &other,
        &json!({"goal_id": rent, "text": "Not shared."}),
    )
    .await
    .problem(409, "plan_not_shared");

    // Staff read every note on a goal, whichever connection it came through.
    let on_rent = app
        .get(&format!("/v1/goals/{rent}/progress-notes"), &staff)
        .await;
    assert_eq!(ids(&on_rent), [first]);
    assert_eq!(on_rent.body["items"][0]["connection_id"], json!(shared));
    assert_eq!(on_rent.body["items"][0]["text"], "First instalment paid.");

    // The person withdraws consent: the connection is cancelled, and the sharing ends.
    let version = app
        .get(&format!("/v1/referrals/{referral}"), &staff)
        .await
        .body["version"]
        .as_i64()
        .unwrap();
    let withdrawn = app
        .change(
            Method::POST,
            &under("consent"),
            &staff,
            version,
            Some(&json!({"status": "withdrawn", "scope": "sharing_with_partners"})),
        )
        .await;
    assert_eq!(withdrawn.status, 201, "{}", withdrawn.text);
    for path in [
        format!("/v1/connections/{shared}/plan"),
        format!("/v1/connections/{shared}/plan/goals"),
        notes.clone(),
    ] {
        app.get(&path, &partner)
            .await
            .problem(409, "connection_final");
    }
    app.post(
        &notes,
        &partner,
        &json!({"goal_id": rent, "text": "After the end."}),
    )
    .await
    .problem(409, "connection_final");
    // What was written stays with the service.
    let kept = app
        .get(&format!("/v1/goals/{cooking}/progress-notes"), &staff)
        .await;
    assert_eq!(ids(&kept), [for_them]);
}

#[tokio::test]
async fn refused_shared_plan_requests_are_audited_and_a_replayed_note_is_added_once() {
    let app = TestApp::spawn().await;
    let staff = app.coordinator();
    let practice = app.organisation("The Surgery", "gp_practice").await;
    let advice = app.organisation("Citizens Advice Bury", "partner").await;
    let partner = app.token(Role::Partner, Some(advice));
    let referral = app.accepted(practice, "SP-3").await;
    let goal = made(
        app.post(
            &format!("/v1/referrals/{referral}/plan/goals"),
            &staff,
            &json!({"description": "Walk to the shops"}),
        )
        .await,
    )
    .await;
    let connection = made(
        app.post(
            &format!("/v1/referrals/{referral}/connections"),
            &staff,
            &json!({"organisation_id": advice, "need": "loneliness", "consent_to_share": true,
                    "shared_fields": ["wellbeing_plan"]}),
        )
        .await,
    )
    .await;

    // Before the plan is written it reads as empty; its goals already show.
    let empty = app
        .get(&format!("/v1/connections/{connection}/plan"), &partner)
        .await;
    assert_eq!(empty.status, 200, "{}", empty.text);
    assert_eq!(empty.body["what_matters"], Value::Null);
    assert_eq!(empty.body["updated_at"], Value::Null);

    // A retried note (same key, same body) is added once.
    let path = format!("/v1/connections/{connection}/plan/progress-notes");
    let body = json!({"goal_id": goal, "text": "Walked to the corner shop."});
    let key = [("idempotency-key", "progress-1")];
    let once = app
        .send(Method::POST, &path, &partner, Some(&body), &key)
        .await;
    assert_eq!(once.status, 201, "{}", once.text);
    let again = app
        .send(Method::POST, &path, &partner, Some(&body), &key)
        .await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.id(), once.id());
    let listed = app.get(&path, &partner).await;
    assert_eq!(ids(&listed), [once.id()]);

    // Cancelled by staff: the partner's read is refused, and the refusal is in the trail.
    let cancelled = app
        .change(
            Method::POST,
            &format!("/v1/connections/{connection}/transitions"),
            &staff,
            1,
            Some(&json!({"to": "cancelled", "reason_code": "no_longer_interested"})),
        )
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    app.get(&format!("/v1/connections/{connection}/plan"), &partner)
        .await
        .problem(409, "connection_final");
    let trail = app
        .get(
            &format!("/v1/audit-events?action=connection.read_plan&referral_id={referral}"),
            &app.admin(),
        )
        .await;
    assert_eq!(trail.status, 200, "{}", trail.text);
    let outcomes: Vec<&str> = trail.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["conflict", "success"], "newest first");
}
