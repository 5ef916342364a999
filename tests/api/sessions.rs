//! Sessions: recorded while a referral is engaged; the first attended one is first contact.

use chrono::{Duration, SecondsFormat, Utc};
use linkwell_domain::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestApp, referral_body};

fn at(offset: Duration) -> String {
    (Utc::now() + offset).to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn sessions_of(referral: Uuid) -> String {
    format!("/v1/referrals/{referral}/sessions")
}

#[tokio::test]
async fn the_first_attended_session_is_the_first_contact() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let referral = app.accepted(org, "S-1").await;
    let staff = app.coordinator();

    let planned = app
        .post(
            &sessions_of(referral),
            &staff,
            &json!({"kind": "coaching", "mode": "face_to_face", "scheduled_at": at(Duration::days(2))}),
        )
        .await;
    assert_eq!(planned.status, 201, "{}", planned.text);
    let planned_id = planned.id();
    assert_eq!(
        planned.header("location"),
        Some(format!("/v1/sessions/{planned_id}").as_str())
    );
    assert_eq!(planned.header("etag"), Some("\"1\""));
    assert_eq!(planned.body["status"], "scheduled");
    assert_eq!(planned.body["duration_minutes"], json!(null));
    assert_eq!(planned.body["created_by"], "coordinator-user");
    let read = app.get(&format!("/v1/referrals/{referral}"), &staff).await;
    assert_eq!(read.body["first_contact_at"], json!(null));

    // Just now: after the referral arrived, not in the future.
    let when = at(Duration::zero());
    let call = app
        .post(
            &sessions_of(referral),
            &staff,
            &json!({"kind": "conversation", "mode": "phone", "scheduled_at": when,
                    "status": "attended", "duration_minutes": 15, "notes": "Talked about the lunch club."}),
        )
        .await;
    assert_eq!(call.status, 201, "{}", call.text);
    let read = app.get(&format!("/v1/referrals/{referral}"), &staff).await;
    assert_eq!(read.body["first_contact_at"], json!(when));
    assert_eq!(read.body["days_waiting"], 0);
    assert_eq!(
        read.body["version"], 3,
        "first contact is a change to the referral"
    );
    // The GP's feed sees it.
    let theirs = app
        .get(&format!("/v1/referrals/{referral}"), &app.referrer(org))
        .await;
    assert_eq!(theirs.body["first_contact_at"], json!(when));

    // Marking the planned one attended needs a duration and a time not in the future.
    let path = format!("/v1/sessions/{planned_id}");
    let attended = json!({"status": "attended"});
    app.send(Method::PATCH, &path, &staff, Some(&attended), &[])
        .await
        .problem(428, "precondition_required");
    let reply = app
        .change(Method::PATCH, &path, &staff, 1, Some(&attended))
        .await;
    reply.problem(422, "validation_failed");
    assert_eq!(
        reply.field_errors(),
        [
            ("/duration_minutes".to_owned(), "required".to_owned()),
            ("/scheduled_at".to_owned(), "in_future".to_owned())
        ]
    );
    let earlier = at(Duration::zero());
    let done = app
        .change(
            Method::PATCH,
            &path,
            &staff,
            1,
            Some(&json!({"status": "attended", "duration_minutes": 50, "scheduled_at": earlier})),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.body["version"], 2);
    assert_eq!(done.header("etag"), Some("\"2\""));
    app.change(
        Method::PATCH,
        &path,
        &staff,
        1,
        Some(&json!({"notes": null})),
    )
    .await
    .problem(412, "precondition_failed");
    // An earlier first contact is already recorded: a later attended session keeps it.
    let read = app.get(&format!("/v1/referrals/{referral}"), &staff).await;
    assert_eq!(read.body["first_contact_at"], json!(when));

    let list = app.get(&sessions_of(referral), &staff).await;
    let ids: Vec<&Value> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["id"])
        .collect();
    assert_eq!(ids, [&json!(planned_id), &call.body["id"]]);
    let one = app.get(&path, &staff).await;
    assert_eq!(one.body, done.body);
}

#[tokio::test]
async fn sessions_are_recorded_only_while_the_referral_is_engaged() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let received = app
        .refer(&app.referrer(org), &referral_body("S-2"))
        .await
        .id();
    let body = json!({"kind": "coaching", "mode": "video", "scheduled_at": at(Duration::days(1))});
    app.post(&sessions_of(received), &app.coordinator(), &body)
        .await
        .problem(409, "referral_not_open");
    app.post(&sessions_of(Uuid::new_v4()), &app.coordinator(), &body)
        .await
        .problem(404, "not_found");
    app.get(&sessions_of(Uuid::new_v4()), &app.coordinator())
        .await
        .problem(404, "not_found");
    app.get(
        &format!("/v1/sessions/{}", Uuid::new_v4()),
        &app.coordinator(),
    )
    .await
    .problem(404, "not_found");
    for role in [Role::Referrer, Role::Partner, Role::Commissioner] {
        let token = app.member(role).await;
        app.post(&sessions_of(received), &token, &body)
            .await
            .problem(403, "forbidden");
        app.get(&sessions_of(received), &token)
            .await
            .problem(403, "forbidden");
    }
}

#[tokio::test]
async fn session_fields_are_checked() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let referral = app.accepted(org, "S-3").await;
    let cases = [
        (
            json!({"kind": "chat", "mode": "phone", "scheduled_at": at(Duration::days(1))}),
            "/kind",
            "unknown_code",
        ),
        (
            json!({"kind": "group", "mode": "phone", "scheduled_at": at(Duration::days(1))}),
            "/kind",
            "group_session",
        ),
        (
            json!({"kind": "coaching", "mode": "pigeon", "scheduled_at": at(Duration::days(1))}),
            "/mode",
            "unknown_code",
        ),
        (
            json!({"kind": "coaching", "mode": "phone", "scheduled_at": "tomorrow"}),
            "/scheduled_at",
            "date_time_format",
        ),
        (
            json!({"kind": "coaching", "mode": "phone", "scheduled_at": at(Duration::days(1)), "duration_minutes": 0}),
            "/duration_minutes",
            "out_of_range",
        ),
        (
            json!({"kind": "coaching", "mode": "phone", "scheduled_at": at(Duration::days(1)), "duration_minutes": 481}),
            "/duration_minutes",
            "out_of_range",
        ),
        (
            json!({"kind": "coaching", "mode": "phone", "scheduled_at": "2000-01-01T00:00:00Z"}),
            "/scheduled_at",
            "before_received",
        ),
        (
            json!({"kind": "coaching", "mode": "phone", "scheduled_at": at(Duration::days(1)), "version": 3}),
            "/version",
            "unknown_field",
        ),
    ];
    for (body, pointer, code) in cases {
        let reply = app
            .post(&sessions_of(referral), &app.coordinator(), &body)
            .await;
        reply.problem(422, "validation_failed");
        assert_eq!(
            reply.field_errors(),
            [(pointer.to_owned(), code.to_owned())],
            "{body}"
        );
    }
    let list = app.get(&sessions_of(referral), &app.coordinator()).await;
    assert_eq!(list.body["items"], json!([]), "nothing refused was stored");
}
