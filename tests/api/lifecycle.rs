//! The referral lifecycle over HTTP: every pair of statuses, who may move, what a move needs,
//! what it writes back, and the history it leaves.

use linkwell_domain::{ReferralStatus, Role};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Reply, TestApp, referral_body};

/// A referral sent by a referrer of `org`, with everything a test needs to move it.
struct Case {
    id: Uuid,
    version: i64,
    referrer: String,
}

async fn received(app: &TestApp, org: Uuid, reference: &str) -> Case {
    let referrer = app.referrer(org);
    let reply = app.refer(&referrer, &referral_body(reference)).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    Case {
        id: reply.id(),
        version: 1,
        referrer,
    }
}

fn body_for(to: ReferralStatus) -> Value {
    match to {
        ReferralStatus::Closed => {
            json!({"to": "closed", "reason_code": "goals_met", "reason": "Goals met."})
        }
        to if to.needs_reason() => json!({"to": to.as_str(), "reason": "Because."}),
        to => json!({"to": to.as_str()}),
    }
}

/// Who sets `to`: the referrer for `withdrawn`, a coordinator otherwise.
fn token_for<'a>(app: &TestApp, case: &'a Case, to: ReferralStatus) -> std::borrow::Cow<'a, str> {
    if to == ReferralStatus::Withdrawn {
        std::borrow::Cow::Borrowed(&case.referrer)
    } else {
        std::borrow::Cow::Owned(app.coordinator())
    }
}

async fn step(app: &TestApp, case: &mut Case, to: ReferralStatus) -> Reply {
    let token = token_for(app, case, to).into_owned();
    let reply = app
        .transition(case.id, &token, case.version, &body_for(to))
        .await;
    if reply.status == 200 {
        case.version = reply.body["version"].as_i64().unwrap();
    }
    reply
}

async fn assign(app: &TestApp, case: &mut Case, user: Uuid) -> Reply {
    let path = format!("/v1/referrals/{}/assignee", case.id);
    let reply = app
        .change(
            Method::PUT,
            &path,
            &app.coordinator(),
            case.version,
            Some(&json!({"user_id": user})),
        )
        .await;
    if reply.status == 200 {
        case.version = reply.body["version"].as_i64().unwrap();
    }
    reply
}

/// The moves that bring a new referral to `status`.
fn path_to(status: ReferralStatus) -> Vec<ReferralStatus> {
    use ReferralStatus::*;
    match status {
        Received => vec![],
        Accepted => vec![Accepted],
        Active => vec![Accepted, Active],
        OnHold => vec![Accepted, Active, OnHold],
        other => vec![other],
    }
}

#[tokio::test]
async fn every_pair_of_statuses_is_allowed_or_refused_as_the_table_says() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let (worker, _) = app.user(Role::Coordinator, None).await;
    let mut n = 0;
    for from in ReferralStatus::ALL {
        for to in ReferralStatus::ALL {
            n += 1;
            let mut case = received(&app, org, &format!("T-{n}")).await;
            for status in path_to(*from) {
                if status == ReferralStatus::Active {
                    assert_eq!(assign(&app, &mut case, worker).await.status, 200);
                }
                let reply = step(&app, &mut case, status).await;
                assert_eq!(reply.status, 200, "{from}: {}", reply.text);
            }
            if !from.is_final() && case.version > 0 {
                // Moves to `active` need an assignee; give every open referral one.
                let reply = assign(&app, &mut case, worker).await;
                assert_eq!(reply.status, 200, "{}", reply.text);
            }
            let reply = step(&app, &mut case, *to).await;
            if from.next().contains(to) {
                assert_eq!(reply.status, 200, "{from} -> {to}: {}", reply.text);
                assert_eq!(reply.body["status"], to.as_str());
            } else {
                let problem = reply.problem(409, "invalid_transition");
                assert_eq!(problem["current_status"], from.as_str(), "{from} -> {to}");
                let allowed: Vec<&str> = from.next().iter().map(|s| s.as_str()).collect();
                assert_eq!(problem["allowed_transitions"], json!(allowed));
                let read = app
                    .get(&format!("/v1/referrals/{}", case.id), &app.coordinator())
                    .await;
                assert_eq!(read.body["status"], from.as_str(), "unchanged");
            }
        }
    }
    assert_eq!(n, 81);
}

#[tokio::test]
async fn a_move_carries_its_reason_and_closing_its_code() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let mut case = received(&app, org, "R-1").await;
    let coordinator = app.coordinator();
    let closing = app
        .transition(case.id, &coordinator, 1, &json!({"to": "closed"}))
        .await;
    closing.problem(422, "validation_failed");
    assert_eq!(
        closing.field_errors(),
        [
            ("/reason".to_owned(), "reason_required".to_owned()),
            ("/reason_code".to_owned(), "reason_code_required".to_owned())
        ]
    );
    for to in ["declined", "rejected", "entered_in_error"] {
        let reply = app
            .transition(case.id, &coordinator, 1, &json!({"to": to}))
            .await;
        assert_eq!(
            reply.field_errors(),
            [("/reason".to_owned(), "reason_required".to_owned())],
            "{to}"
        );
    }
    let misplaced = app
        .transition(
            case.id,
            &coordinator,
            1,
            &json!({"to": "accepted", "reason_code": "other"}),
        )
        .await;
    assert_eq!(
        misplaced.field_errors(),
        [(
            "/reason_code".to_owned(),
            "reason_code_not_applicable".to_owned()
        )]
    );
    let unknown = app
        .transition(
            case.id,
            &coordinator,
            1,
            &json!({"to": "closed", "reason_code": "bored", "reason": "x"}),
        )
        .await;
    assert_eq!(
        unknown.field_errors(),
        [("/reason_code".to_owned(), "unknown_code".to_owned())]
    );
    let blank = app
        .transition(
            case.id,
            &coordinator,
            1,
            &json!({"to": "declined", "reason": "  "}),
        )
        .await;
    assert_eq!(
        blank.field_errors(),
        [("/reason".to_owned(), "blank".to_owned())]
    );
    let status = app
        .transition(case.id, &coordinator, 1, &json!({"to": "started"}))
        .await;
    assert_eq!(
        status.field_errors(),
        [("/to".to_owned(), "unknown_code".to_owned())]
    );

    let closed = step(&app, &mut case, ReferralStatus::Closed).await;
    assert_eq!(closed.status, 200, "{}", closed.text);
    assert_eq!(closed.body["status_reason"], "Goals met.");
    assert_eq!(closed.body["status_reason_code"], "goals_met");
    assert_eq!(closed.body["version"], 2);
    assert_eq!(closed.header("etag"), Some("\"2\""));
    // The referrer reads why it closed.
    let theirs = app
        .get(&format!("/v1/referrals/{}", case.id), &case.referrer)
        .await;
    assert_eq!(theirs.body["status"], "closed");
    assert_eq!(theirs.body["status_reason_code"], "goals_met");
}

#[tokio::test]
async fn accepting_and_declining_write_back_snomed_codes() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let mut case = received(&app, org, "G-1").await;
    let fresh = app
        .get(&format!("/v1/referrals/{}", case.id), &case.referrer)
        .await;
    assert_eq!(fresh.body["gp_record_code"], json!(null));
    let accepted = step(&app, &mut case, ReferralStatus::Accepted).await;
    let referred = json!({
        "system": "http://snomed.info/sct",
        "code": "871731000000106",
        "display": "Referral to social prescribing service"
    });
    assert_eq!(accepted.body["gp_record_code"], referred);
    let declined = step(&app, &mut case, ReferralStatus::Declined).await;
    assert_eq!(
        declined.body["gp_record_code"],
        json!({
            "system": "http://snomed.info/sct",
            "code": "871711000000103",
            "display": "Social prescribing declined"
        })
    );
    let theirs = app
        .get(&format!("/v1/referrals/{}", case.id), &case.referrer)
        .await;
    assert_eq!(theirs.body["gp_record_code"]["code"], "871711000000103");
    assert_eq!(theirs.body["status_reason"], "Because.");

    let mut rejected = received(&app, org, "G-2").await;
    let reply = step(&app, &mut rejected, ReferralStatus::Rejected).await;
    assert_eq!(reply.body["gp_record_code"], json!(null));
}

#[tokio::test]
async fn only_the_referring_organisation_withdraws_and_only_staff_do_the_rest() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let other = app.organisation("Other practice", "gp_practice").await;
    let case = received(&app, org, "W-1").await;
    let withdraw = json!({"to": "withdrawn", "reason": "Resolved at the practice."});

    for staff in [app.coordinator(), app.admin()] {
        app.transition(case.id, &staff, 1, &withdraw)
            .await
            .problem(403, "forbidden");
    }
    app.transition(case.id, &case.referrer, 1, &json!({"to": "accepted"}))
        .await
        .problem(403, "forbidden");
    app.transition(case.id, &app.member(Role::Commissioner).await, 1, &withdraw)
        .await
        .problem(403, "forbidden");
    // A partner withdraws only referrals it sent: this one it cannot tell exists.
    app.transition(case.id, &app.member(Role::Partner).await, 1, &withdraw)
        .await
        .problem(404, "not_found");
    // Another practice cannot tell the referral exists.
    let theirs = app
        .transition(case.id, &app.referrer(other), 1, &withdraw)
        .await;
    let missing = app
        .transition(Uuid::new_v4(), &app.referrer(other), 1, &withdraw)
        .await;
    theirs.problem(404, "not_found");
    assert_eq!(theirs.body["detail"], missing.body["detail"]);

    let done = app.transition(case.id, &case.referrer, 1, &withdraw).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.body["status"], "withdrawn");
    assert_eq!(done.body["status_reason"], "Resolved at the practice.");
    assert!(done.body.get("assignee_id").is_none(), "{}", done.text);
}

#[tokio::test]
async fn active_needs_an_assignee() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let mut case = received(&app, org, "A-1").await;
    step(&app, &mut case, ReferralStatus::Accepted).await;
    let reply = step(&app, &mut case, ReferralStatus::Active).await;
    reply.problem(409, "assignee_required");
    let (worker, _) = app.user(Role::Coordinator, None).await;
    assert_eq!(assign(&app, &mut case, worker).await.status, 200);
    let active = step(&app, &mut case, ReferralStatus::Active).await;
    assert_eq!(active.status, 200);
    assert_eq!(active.body["assignee_id"], json!(worker));
    assert_eq!(active.body["assigned"], true);
    // Nobody can take the assignee off an active referral.
    let path = format!("/v1/referrals/{}/assignee", case.id);
    app.change(
        Method::DELETE,
        &path,
        &app.coordinator(),
        case.version,
        None,
    )
    .await
    .problem(409, "assignee_required");
}

#[tokio::test]
async fn changes_need_the_current_etag() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let case = received(&app, org, "E-1").await;
    let coordinator = app.coordinator();
    let path = format!("/v1/referrals/{}/transitions", case.id);
    let accept = json!({"to": "accepted"});

    let missing = app
        .send(Method::POST, &path, &coordinator, Some(&accept), &[])
        .await;
    missing.problem(428, "precondition_required");
    let malformed = app
        .send(
            Method::POST,
            &path,
            &coordinator,
            Some(&accept),
            &[("if-match", "1")],
        )
        .await;
    malformed.problem(400, "invalid_parameter");
    for stale in ["\"2\"", "W/\"1\"", "\"stale-999\"", "\"01\""] {
        let reply = app
            .send(
                Method::POST,
                &path,
                &coordinator,
                Some(&accept),
                &[("if-match", stale)],
            )
            .await;
        reply.problem(412, "precondition_failed");
    }
    let read = app
        .get(&format!("/v1/referrals/{}", case.id), &coordinator)
        .await;
    assert_eq!(read.body["status"], "received");
    assert_eq!(read.body["version"], 1);

    let ok = app.transition(case.id, &coordinator, 1, &accept).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("etag"), Some("\"2\""));
    app.transition(
        case.id,
        &coordinator,
        1,
        &json!({"to": "closed", "reason_code": "other", "reason": "x"}),
    )
    .await
    .problem(412, "precondition_failed");
    for method in [Method::PATCH] {
        let reply = app
            .send(
                method,
                &format!("/v1/referrals/{}", case.id),
                &coordinator,
                Some(&json!({"summary": "x"})),
                &[],
            )
            .await;
        reply.problem(428, "precondition_required");
    }
}

#[tokio::test]
async fn of_many_writers_holding_one_etag_exactly_one_wins() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let case = received(&app, org, "C-1").await;
    let coordinator = app.coordinator();
    let path = format!("/v1/referrals/{}", case.id);
    let writers = (0..20).map(|i| {
        let body = json!({"summary": format!("Writer {i} was here.")});
        let path = path.clone();
        let coordinator = coordinator.clone();
        let app = &app;
        async move {
            app.change(Method::PATCH, &path, &coordinator, 1, Some(&body))
                .await
        }
    });
    let replies = futures_util::future::join_all(writers).await;
    let won: Vec<&Reply> = replies.iter().filter(|r| r.status == 200).collect();
    assert_eq!(
        won.len(),
        1,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for lost in replies.iter().filter(|r| r.status != 200) {
        lost.problem(412, "precondition_failed");
    }
    let read = app.get(&path, &coordinator).await;
    assert_eq!(read.body["version"], 2);
    assert_eq!(read.body["summary"], won[0].body["summary"]);

    // The same race through transitions: one accept wins, the rest are stale.
    let moves = (0..10).map(|_| {
        let coordinator = coordinator.clone();
        let app = &app;
        async move {
            app.transition(case.id, &coordinator, 2, &json!({"to": "accepted"}))
                .await
        }
    });
    let replies = futures_util::future::join_all(moves).await;
    assert_eq!(replies.iter().filter(|r| r.status == 200).count(), 1);
    let history = app.get(&format!("{path}/history"), &coordinator).await;
    assert_eq!(history.body["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn history_lists_every_change_oldest_first() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let (worker, worker_token) = app.user(Role::Coordinator, None).await;
    let mut case = received(&app, org, "H-1").await;
    step(&app, &mut case, ReferralStatus::Accepted).await;
    assign(&app, &mut case, worker).await;
    let reply = app
        .transition(
            case.id,
            &worker_token,
            case.version,
            &json!({"to": "active"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    case.version = reply.body["version"].as_i64().unwrap();
    step(&app, &mut case, ReferralStatus::OnHold).await;

    let history = app
        .get(
            &format!("/v1/referrals/{}/history", case.id),
            &app.coordinator(),
        )
        .await;
    assert_eq!(history.status, 200, "{}", history.text);
    let items = history.body["items"].as_array().unwrap();
    let moves: Vec<(Value, Value, Value, Value, Value)> = items
        .iter()
        .map(|i| {
            (
                i["from"].clone(),
                i["to"].clone(),
                i["by"].clone(),
                i["role"].clone(),
                i["reason"].clone(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            (
                json!(null),
                json!("received"),
                json!("referrer-user"),
                json!("referrer"),
                json!(null)
            ),
            (
                json!("received"),
                json!("accepted"),
                json!("coordinator-user"),
                json!("coordinator"),
                json!(null)
            ),
            (
                json!("accepted"),
                json!("active"),
                json!(worker),
                json!("coordinator"),
                json!(null)
            ),
            (
                json!("active"),
                json!("on_hold"),
                json!("coordinator-user"),
                json!("coordinator"),
                json!("Because.")
            ),
        ]
    );
    let times: Vec<&str> = items.iter().map(|i| i["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_eq!(history.body["next_cursor"], json!(null));

    let paged = app
        .get(
            &format!("/v1/referrals/{}/history?limit=3", case.id),
            &app.coordinator(),
        )
        .await;
    let cursor = paged.body["next_cursor"].as_str().unwrap().to_owned();
    let rest = app
        .get(
            &format!("/v1/referrals/{}/history?limit=3&cursor={cursor}", case.id),
            &app.coordinator(),
        )
        .await;
    assert_eq!(rest.body["items"][0], items[3]);

    app.get(
        &format!("/v1/referrals/{}/history", case.id),
        &case.referrer,
    )
    .await
    .problem(403, "forbidden");
    app.get(
        &format!("/v1/referrals/{}/history", Uuid::new_v4()),
        &app.coordinator(),
    )
    .await
    .problem(404, "not_found");
}
