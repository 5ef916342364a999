//! Wellbeing plans and goals: one plan per referral, written while it is engaged and replaced
//! with `If-Match`; goals keep every change of status (who, when).

use chrono::{Duration, SecondsFormat, Utc};
use linkwell_domain::Role;
use linkwell_persistence::audit;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestApp, referral_body};

fn plan_of(referral: Uuid) -> String {
    format!("/v1/referrals/{referral}/plan")
}

fn goals_of(referral: Uuid) -> String {
    format!("/v1/referrals/{referral}/plan/goals")
}

#[tokio::test]
async fn a_plan_is_written_once_then_replaced_with_if_match() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let referral = app.accepted(org, "P-1").await;
    let staff = app.coordinator();
    let path = plan_of(referral);
    // Every referral has a plan, empty until written; only a missing referral is 404.
    let unwritten = app.get(&path, &staff).await;
    assert_eq!(unwritten.header("etag"), Some("\"0\""));
    assert_eq!(
        unwritten.body,
        json!({"referral_id": referral, "what_matters": null, "strengths": null, "agreed_at": null,
               "created_by": null, "created_at": null, "updated_at": null, "version": 0})
    );
    app.get(&plan_of(Uuid::new_v4()), &staff)
        .await
        .problem(404, "not_found");

    let agreed = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    let first = json!({"what_matters": "Seeing my grandchildren; getting out of the flat.",
                       "strengths": "Used to run the allotment society.", "agreed_at": agreed});
    // An If-Match with nothing there to match.
    app.change(Method::PUT, &path, &staff, 1, Some(&first))
        .await
        .problem(412, "precondition_failed");
    let made = app
        .send(Method::PUT, &path, &staff, Some(&first), &[])
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    assert_eq!(made.header("location"), Some(path.as_str()));
    assert_eq!(made.header("etag"), Some("\"1\""));
    assert_eq!(
        made.body,
        json!({"referral_id": referral, "what_matters": "Seeing my grandchildren; getting out of the flat.",
               "strengths": "Used to run the allotment society.", "agreed_at": agreed,
               "created_by": "coordinator-user", "created_at": made.body["created_at"],
               "updated_at": made.body["created_at"], "version": 1})
    );

    // The same plan again without If-Match is a retry of the create: unchanged.
    let retry = app
        .send(Method::PUT, &path, &staff, Some(&first), &[])
        .await;
    assert_eq!((retry.status.as_u16(), &retry.body), (200, &made.body));
    let second = json!({"what_matters": "Seeing my grandchildren."});
    app.send(Method::PUT, &path, &staff, Some(&second), &[])
        .await
        .problem(428, "precondition_required");
    app.change(Method::PUT, &path, &staff, 7, Some(&second))
        .await
        .problem(412, "precondition_failed");
    let replaced = app
        .change(Method::PUT, &path, &staff, 1, Some(&second))
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    assert_eq!(replaced.header("etag"), Some("\"2\""));
    assert_eq!(replaced.body["strengths"], json!(null), "a PUT replaces");
    assert_eq!(replaced.body["agreed_at"], json!(null));
    assert_eq!(replaced.body["created_at"], made.body["created_at"]);
    // The same again changes nothing.
    let same = app
        .change(Method::PUT, &path, &staff, 2, Some(&second))
        .await;
    assert_eq!((same.status.as_u16(), &same.body), (200, &replaced.body));
    let read = app.get(&path, &staff).await;
    assert_eq!(
        (read.header("etag"), &read.body),
        (Some("\"2\""), &replaced.body)
    );

    // Agreed in the future, or before the referral arrived.
    let future = (Utc::now() + Duration::hours(1)).to_rfc3339();
    for (when, code) in [
        (future.as_str(), "in_future"),
        ("2001-01-01T00:00:00Z", "before_received"),
    ] {
        let reply = app
            .change(
                Method::PUT,
                &path,
                &staff,
                2,
                Some(&json!({"what_matters": "x", "agreed_at": when})),
            )
            .await;
        reply.problem(422, "validation_failed");
        assert_eq!(
            reply.field_errors(),
            [("/agreed_at".to_owned(), code.to_owned())]
        );
    }
    for (body, pointer, code) in [
        (json!({"what_matters": " "}), "/what_matters", "blank"),
        (
            json!({"what_matters": "x", "goals": []}),
            "/goals",
            "unknown_field",
        ),
        (json!({"strengths": "x"}), "/what_matters", "required"),
    ] {
        let reply = app.change(Method::PUT, &path, &staff, 2, Some(&body)).await;
        reply.problem(422, "validation_failed");
        assert_eq!(
            reply.field_errors(),
            [(pointer.to_owned(), code.to_owned())],
            "{body}"
        );
    }
    assert_eq!(
        app.get(&path, &staff).await.body,
        replaced.body,
        "nothing refused was stored"
    );

    // Reads and writes are audited against the referral.
    let mut events = audit::recent(&mut app.db(), 1000).unwrap();
    events.retain(|e| e.resource_type == "plan");
    events.reverse();
    let seen: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.action.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("plan.read", "success"),
            ("plan.read", "not_found"),
            ("plan.write", "conflict"),
            ("plan.write", "success"),
            ("plan.write", "success"),
            ("plan.write", "conflict"),
            ("plan.write", "conflict"),
            ("plan.write", "success"),
            ("plan.write", "success"),
            ("plan.read", "success"),
            ("plan.write", "rejected"),
            ("plan.write", "rejected"),
            // Malformed bodies are refused before the database: no row.
            ("plan.read", "success"),
        ]
    );
    assert!(
        events
            .iter()
            .filter(|e| e.outcome != "not_found")
            .all(|e| e.resource_id == Some(referral))
    );
}

#[tokio::test]
async fn plans_and_goals_start_only_while_the_referral_is_engaged() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let received = app
        .refer(&app.referrer(org), &referral_body("P-2"))
        .await
        .id();
    let staff = app.coordinator();
    let plan = json!({"what_matters": "Company"});
    let goal = json!({"description": "Go to the Tuesday lunch club"});
    app.send(Method::PUT, &plan_of(received), &staff, Some(&plan), &[])
        .await
        .problem(409, "referral_not_open");
    app.post(&goals_of(received), &staff, &goal)
        .await
        .problem(409, "referral_not_open");
    let missing = Uuid::new_v4();
    app.send(Method::PUT, &plan_of(missing), &staff, Some(&plan), &[])
        .await
        .problem(404, "not_found");
    app.post(&goals_of(missing), &staff, &goal)
        .await
        .problem(404, "not_found");
    app.get(&goals_of(missing), &staff)
        .await
        .problem(404, "not_found");
    app.get(&format!("/v1/goals/{missing}"), &staff)
        .await
        .problem(404, "not_found");
    for role in [Role::Referrer, Role::Partner, Role::Commissioner] {
        let token = app.member(role).await;
        app.get(&plan_of(received), &token)
            .await
            .problem(403, "forbidden");
        app.send(Method::PUT, &plan_of(received), &token, Some(&plan), &[])
            .await
            .problem(403, "forbidden");
        app.get(&goals_of(received), &token)
            .await
            .problem(403, "forbidden");
        app.post(&goals_of(received), &token, &goal)
            .await
            .problem(403, "forbidden");
    }
}

#[tokio::test]
async fn goals_keep_every_change_of_status() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let referral = app.accepted(org, "P-3").await;
    let jo = app.coordinator();
    let (sam_id, sam) = app.user(Role::Coordinator, None).await;
    // The unwritten plan's ETag, "0", may be named to write the first plan.
    let first = app
        .change(
            Method::PUT,
            &plan_of(referral),
            &jo,
            0,
            Some(&json!({"what_matters": "Singing again"})),
        )
        .await;
    assert_eq!(
        (first.status.as_u16(), first.header("etag")),
        (201, Some("\"1\""))
    );

    let walk = app
        .post(
            &goals_of(referral),
            &jo,
            &json!({"description": "Walk to the park twice a week", "target_date": "2027-03-01"}),
        )
        .await;
    assert_eq!(walk.status, 201, "{}", walk.text);
    let id = walk.id();
    assert_eq!(
        walk.header("location"),
        Some(format!("/v1/goals/{id}").as_str())
    );
    assert_eq!(walk.body["status"], "proposed");
    assert_eq!(walk.body["target_date"], "2027-03-01");
    let set_at = walk.body["created_at"].clone();
    assert_eq!(
        walk.body["status_history"],
        json!([{"from": null, "to": "proposed", "changed_by": "coordinator-user",
                "changed_by_role": "coordinator", "changed_at": set_at}])
    );
    let club = app
        .post(
            &goals_of(referral),
            &jo,
            &json!({"description": "Join the choir", "status": "active"}),
        )
        .await;
    assert_eq!(club.body["status"], "active");
    assert_eq!(club.body["target_date"], json!(null));

    let path = format!("/v1/goals/{id}");
    let active = json!({"status": "active"});
    app.send(Method::PATCH, &path, &jo, Some(&active), &[])
        .await
        .problem(428, "precondition_required");
    let moved = app
        .change(Method::PATCH, &path, &sam, 1, Some(&active))
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    assert_eq!(moved.header("etag"), Some("\"2\""));
    let history = moved.body["status_history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        (
            &history[1]["from"],
            &history[1]["to"],
            &history[1]["changed_by"],
            &history[1]["changed_at"]
        ),
        (
            &json!("proposed"),
            &json!("active"),
            &json!(sam_id.to_string()),
            &moved.body["updated_at"]
        )
    );

    // Editing the words or the date is not a change of status; `null` clears the date.
    let edited = app
        .change(
            Method::PATCH,
            &path,
            &jo,
            2,
            Some(
                &json!({"description": "Walk to the park three times a week", "target_date": null}),
            ),
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.text);
    assert_eq!(edited.body["status_history"].as_array().unwrap().len(), 2);
    assert_eq!(edited.body["target_date"], json!(null));
    assert_eq!(edited.body["version"], 3);
    let done = app
        .change(
            Method::PATCH,
            &path,
            &jo,
            3,
            Some(&json!({"status": "achieved"})),
        )
        .await;
    let tos: Vec<&Value> = done.body["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["to"])
        .collect();
    assert_eq!(
        tos,
        [&json!("proposed"), &json!("active"), &json!("achieved")]
    );
    app.change(
        Method::PATCH,
        &path,
        &jo,
        3,
        Some(&json!({"status": "dropped"})),
    )
    .await
    .problem(412, "precondition_failed");

    let null = app
        .change(Method::PATCH, &path, &jo, 4, Some(&json!({"status": null})))
        .await;
    null.problem(422, "validation_failed");
    assert_eq!(
        null.field_errors(),
        [("/status".to_owned(), "required".to_owned())]
    );
    let bad = app
        .change(
            Method::PATCH,
            &path,
            &jo,
            4,
            Some(&json!({"status": "finished", "target_date": "2027-02-30", "description": ""})),
        )
        .await;
    bad.problem(422, "validation_failed");
    assert_eq!(
        bad.field_errors(),
        [
            ("/description".to_owned(), "blank".to_owned()),
            ("/target_date".to_owned(), "date_format".to_owned()),
            ("/status".to_owned(), "unknown_code".to_owned())
        ]
    );

    let read = app.get(&path, &jo).await;
    assert_eq!(
        (read.header("etag"), &read.body),
        (Some("\"4\""), &done.body)
    );
    let list = app
        .get(&format!("{}?limit=1", goals_of(referral)), &jo)
        .await;
    assert_eq!(list.body["items"], json!([done.body]));
    let cursor = list.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!("{}?limit=1&cursor={cursor}", goals_of(referral)),
            &jo,
        )
        .await;
    assert_eq!(
        rest.body,
        json!({"items": [club.body], "next_cursor": null})
    );
    // A goal set before the referral closes can still be marked afterwards.
    let closed = app
        .transition(
            referral,
            &jo,
            2,
            &json!({"to": "closed", "reason_code": "goals_met", "reason": "Settled in"}),
        )
        .await;
    assert_eq!(closed.status, 200, "{}", closed.text);
    let club_path = format!("/v1/goals/{}", club.id());
    let achieved = app
        .change(
            Method::PATCH,
            &club_path,
            &jo,
            1,
            Some(&json!({"status": "achieved"})),
        )
        .await;
    assert_eq!(achieved.status, 200, "{}", achieved.text);
    app.post(&goals_of(referral), &jo, &json!({"description": "Another"}))
        .await
        .problem(409, "referral_not_open");
    for role in [Role::Referrer, Role::Partner, Role::Commissioner] {
        let token = app.member(role).await;
        app.get(&path, &token).await.problem(403, "forbidden");
        app.change(Method::PATCH, &path, &token, 4, Some(&active))
            .await
            .problem(403, "forbidden");
    }
}
