//! Link workers' caseloads: assignment rules, the waiting list, first contact and corrections.

use linkwell_domain::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestApp, referral_body};

fn ids(reply: &crate::support::Reply) -> Vec<Value> {
    reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].clone())
        .collect()
}

#[tokio::test]
async fn only_an_active_coordinator_holds_a_caseload() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let id = app
        .refer(&app.referrer(org), &referral_body("AS-1"))
        .await
        .id();
    let path = format!("/v1/referrals/{id}/assignee");
    let (admin_user, _) = app.user(Role::Admin, None).await;
    let (leaver, _) = app.user(Role::Coordinator, None).await;
    app.call(
        Method::POST,
        &format!("/v1/users/{leaver}/deactivate"),
        Some(&app.admin()),
        None,
    )
    .await;
    for user in [admin_user, leaver, Uuid::new_v4()] {
        let reply = app
            .change(
                Method::PUT,
                &path,
                &app.coordinator(),
                1,
                Some(&json!({"user_id": user})),
            )
            .await;
        reply.problem(422, "validation_failed");
        assert_eq!(
            reply.field_errors(),
            [(
                "/user_id".to_owned(),
                "not_an_active_coordinator".to_owned()
            )]
        );
    }
    let (worker, _) = app.user(Role::Coordinator, None).await;
    let assigned = app
        .change(
            Method::PUT,
            &path,
            &app.coordinator(),
            1,
            Some(&json!({"user_id": worker})),
        )
        .await;
    assert_eq!(assigned.status, 200, "{}", assigned.text);
    assert_eq!(assigned.body["assignee_id"], json!(worker));
    assert_eq!(assigned.body["version"], 2);
    // The referrer learns that, not who.
    let theirs = app
        .get(&format!("/v1/referrals/{id}"), &app.referrer(org))
        .await;
    assert_eq!(theirs.body["assigned"], true);
    assert!(theirs.body.get("assignee_id").is_none());
    assert!(theirs.body.get("person_id").is_none());

    let same = app
        .change(
            Method::PUT,
            &path,
            &app.coordinator(),
            2,
            Some(&json!({"user_id": worker})),
        )
        .await;
    assert_eq!(same.body["version"], 2, "assigning again changes nothing");
    let unassigned = app
        .change(Method::DELETE, &path, &app.coordinator(), 2, None)
        .await;
    assert_eq!(unassigned.status, 200);
    assert_eq!(unassigned.body["assignee_id"], json!(null));
    assert_eq!(unassigned.body["assigned"], false);

    for role in [Role::Referrer, Role::Partner, Role::Commissioner] {
        app.change(
            Method::PUT,
            &path,
            &app.member(role).await,
            3,
            Some(&json!({"user_id": worker})),
        )
        .await
        .problem(403, "forbidden");
    }
    // A final referral keeps its caseload as it ended.
    let closed = app
        .transition(
            id,
            &app.coordinator(),
            3,
            &json!({"to": "rejected", "reason": "Out of area."}),
        )
        .await;
    assert_eq!(closed.status, 200);
    app.change(
        Method::PUT,
        &path,
        &app.coordinator(),
        4,
        Some(&json!({"user_id": worker})),
    )
    .await
    .problem(409, "referral_final");
}

#[tokio::test]
async fn caseloads_and_the_waiting_list() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let (me, my_token) = app.user(Role::Coordinator, None).await;
    let (colleague, _) = app.user(Role::Coordinator, None).await;
    let mut referrals = Vec::new();
    for n in 0..4 {
        let id = app
            .refer(&app.referrer(org), &referral_body(&format!("CL-{n}")))
            .await
            .id();
        referrals.push(id);
    }
    for (id, user) in [
        (referrals[0], me),
        (referrals[1], me),
        (referrals[2], colleague),
    ] {
        let reply = app
            .change(
                Method::PUT,
                &format!("/v1/referrals/{id}/assignee"),
                &my_token,
                1,
                Some(&json!({"user_id": user})),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    let mine = app.get("/v1/referrals?assignee=me", &my_token).await;
    assert_eq!(ids(&mine), [json!(referrals[1]), json!(referrals[0])]);
    let theirs = app
        .get(&format!("/v1/referrals?assignee={colleague}"), &my_token)
        .await;
    assert_eq!(ids(&theirs), [json!(referrals[2])]);
    let waiting = app.get("/v1/referrals?assignee=none", &my_token).await;
    assert_eq!(ids(&waiting), [json!(referrals[3])]);

    // `me` needs a registered user's token; referrers never filter by assignee.
    app.get("/v1/referrals?assignee=me", &app.coordinator())
        .await
        .problem(400, "invalid_parameter");
    app.get("/v1/referrals?assignee=none", &app.referrer(org))
        .await
        .problem(400, "invalid_parameter");
    app.get("/v1/referrals?assignee=someone", &my_token)
        .await
        .problem(400, "invalid_parameter");

    // First contact, set by staff, ends the wait.
    let read = app
        .get(&format!("/v1/referrals/{}", referrals[0]), &my_token)
        .await;
    let received_at = read.body["received_at"].as_str().unwrap().to_owned();
    let patched = app
        .change(
            Method::PATCH,
            &format!("/v1/referrals/{}", referrals[0]),
            &my_token,
            2,
            Some(&json!({"first_contact_at": received_at})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["first_contact_at"], json!(received_at));
    assert_eq!(patched.body["days_waiting"], 0);
    let still = app.get("/v1/referrals?waiting=true", &my_token).await;
    assert_eq!(
        ids(&still),
        [
            json!(referrals[3]),
            json!(referrals[2]),
            json!(referrals[1])
        ]
    );
    let seen = app.get("/v1/referrals?waiting=false", &my_token).await;
    assert_eq!(ids(&seen), [json!(referrals[0])]);
    let theirs = app
        .get("/v1/referrals?waiting=false", &app.referrer(org))
        .await;
    assert_eq!(
        theirs.body["items"][0]["first_contact_at"],
        json!(received_at)
    );
}

#[tokio::test]
async fn staff_correct_a_referral_with_a_merge_patch() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let id = app
        .refer(&app.referrer(org), &referral_body("P-1"))
        .await
        .id();
    let path = format!("/v1/referrals/{id}");
    let coordinator = app.coordinator();

    let reply = app
        .send(
            Method::PATCH,
            &path,
            &coordinator,
            None,
            &[
                ("if-match", "\"1\""),
                ("content-type", "application/merge-patch+json"),
            ],
        )
        .await;
    reply.problem(400, "malformed_json");
    let patched = app
        .change(
            Method::PATCH,
            &path,
            &coordinator,
            1,
            Some(&json!({"summary": null, "reasons": ["housing"]})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["summary"], json!(null));
    assert_eq!(patched.body["reasons"], json!(["housing"]));
    assert_eq!(patched.body["version"], 2);
    assert_eq!(patched.header("etag"), Some("\"2\""));
    let unchanged = app
        .change(Method::PATCH, &path, &coordinator, 2, Some(&json!({})))
        .await;
    assert_eq!(unchanged.body["version"], 2);

    let bad = app
        .change(
            Method::PATCH,
            &path,
            &coordinator,
            2,
            Some(&json!({
                "summary": "\u{0}",
                "reasons": [],
                "first_contact_at": "yesterday"
            })),
        )
        .await;
    bad.problem(422, "validation_failed");
    assert_eq!(
        bad.field_errors(),
        [
            ("/summary".to_owned(), "control_characters".to_owned()),
            ("/reasons".to_owned(), "empty".to_owned()),
            (
                "/first_contact_at".to_owned(),
                "date_time_format".to_owned()
            ),
        ]
    );
    for (at, code) in [
        ("2000-01-01T00:00:00Z", "before_received"),
        ("2999-01-01T00:00:00Z", "in_future"),
    ] {
        let reply = app
            .change(
                Method::PATCH,
                &path,
                &coordinator,
                2,
                Some(&json!({"first_contact_at": at})),
            )
            .await;
        assert_eq!(
            reply.field_errors(),
            [("/first_contact_at".to_owned(), code.to_owned())]
        );
    }
    for forbidden in [
        json!({"status": "closed"}),
        json!({"version": 9}),
        json!({"reasons": null}),
    ] {
        let reply = app
            .change(Method::PATCH, &path, &coordinator, 2, Some(&forbidden))
            .await;
        reply.problem(422, "validation_failed");
    }
    app.change(
        Method::PATCH,
        &path,
        &app.referrer(org),
        2,
        Some(&json!({"summary": "x"})),
    )
    .await
    .problem(403, "forbidden");
    app.change(
        Method::PATCH,
        &format!("/v1/referrals/{}", Uuid::new_v4()),
        &coordinator,
        1,
        Some(&json!({"summary": "x"})),
    )
    .await
    .problem(404, "not_found");
    let read = app.get(&path, &coordinator).await;
    assert_eq!(read.body["version"], 2, "nothing refused was written");
}

#[tokio::test]
async fn a_phone_padded_past_its_bound_is_refused_as_the_schema_says() {
    let app = TestApp::spawn().await;
    let mut body = referral_body("PAD-1");
    body["person"]["phone"] = json!(format!("01284 123456{}", " ".repeat(14)));
    let reply = app.refer(&app.coordinator(), &body).await;
    reply.problem(422, "validation_failed");
    assert_eq!(
        reply.field_errors(),
        [("/person/phone".to_owned(), "phone_format".to_owned())]
    );
}
