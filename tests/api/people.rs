//! People: one record per human, duplicates flagged and resolved by staff, never merged silently.

use linkwell_domain::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Reply, TestApp, referral_body};

fn without_nhs_number(reference: &str) -> Value {
    let mut body = referral_body(reference);
    body["person"].as_object_mut().unwrap().remove("nhs_number");
    body
}

async fn person_of(app: &TestApp, referral: &Reply) -> Uuid {
    let read = app
        .get(
            &format!("/v1/referrals/{}", referral.id()),
            &app.coordinator(),
        )
        .await;
    Uuid::parse_str(read.body["person_id"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn an_nhs_number_already_known_reuses_its_person_without_overwriting_them() {
    let app = TestApp::spawn().await;
    let a = app.organisation("Practice A", "gp_practice").await;
    let b = app.organisation("Practice B", "gp_practice").await;
    let first = app.refer(&app.referrer(a), &referral_body("N-1")).await;
    let mut newer = referral_body("N-2");
    newer["person"]["phone"] = json!("07700 900123");
    newer["person"]["address"] = json!("2 New Street");
    let second = app.refer(&app.referrer(b), &newer).await;
    assert_eq!(second.status, 201, "{}", second.text);
    let person = person_of(&app, &first).await;
    assert_eq!(person_of(&app, &second).await, person);

    let record = app
        .get(&format!("/v1/people/{person}"), &app.coordinator())
        .await;
    assert_eq!(record.status, 200, "{}", record.text);
    assert_eq!(record.header("etag"), Some("\"1\""));
    assert_eq!(record.body["phone"], "01284 123456", "not overwritten");
    assert_eq!(record.body["possible_duplicate_of"], json!(null));
    let referrals: Vec<&Value> = record.body["referrals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert_eq!(referrals, [&second.body["id"], &first.body["id"]]);
    // Each referrer reads back what it sent, and only that.
    let theirs = app
        .get(&format!("/v1/referrals/{}", second.id()), &app.referrer(b))
        .await;
    assert_eq!(theirs.body["person"]["phone"], "07700 900123");
    assert_eq!(theirs.body["person"]["address"], "2 New Street");
    let ours = app
        .get(&format!("/v1/referrals/{}", first.id()), &app.referrer(a))
        .await;
    assert_eq!(
        ours.body["person"]["address"],
        "1 Abbey Gate, Bury St Edmunds"
    );

    let found = app
        .get("/v1/people?nhs_number=999%20000%200018", &app.coordinator())
        .await;
    assert_eq!(found.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(found.body["items"][0]["id"], json!(person));
    assert!(found.body["items"][0].get("referrals").is_none());
}

#[tokio::test]
async fn a_name_and_birth_match_is_flagged_then_merged() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let first = app.refer(&app.referrer(org), &referral_body("D-1")).await;
    let mut lower = without_nhs_number("D-2");
    lower["person"]["family_name"] = json!("JONES");
    let second = app.refer(&app.referrer(org), &lower).await;
    let survivor = person_of(&app, &first).await;
    let duplicate = person_of(&app, &second).await;
    assert_ne!(survivor, duplicate, "never merged silently");
    let staff_view = app
        .get(
            &format!("/v1/referrals/{}", second.id()),
            &app.coordinator(),
        )
        .await;
    assert_eq!(staff_view.body["possible_duplicate_of"], json!(survivor));
    let theirs = app
        .get(
            &format!("/v1/referrals/{}", second.id()),
            &app.referrer(org),
        )
        .await;
    assert!(theirs.body.get("possible_duplicate_of").is_none());

    let by_name = app
        .get(
            "/v1/people?family_name=jones&date_of_birth=1950-02-28",
            &app.coordinator(),
        )
        .await;
    assert_eq!(by_name.body["items"].as_array().unwrap().len(), 2);

    let path = format!("/v1/people/{survivor}/merge");
    let body = json!({"duplicate_id": duplicate});
    app.send(Method::POST, &path, &app.coordinator(), Some(&body), &[])
        .await
        .problem(428, "precondition_required");
    app.change(Method::POST, &path, &app.coordinator(), 9, Some(&body))
        .await
        .problem(412, "precondition_failed");
    app.change(
        Method::POST,
        &path,
        &app.coordinator(),
        1,
        Some(&json!({"duplicate_id": survivor})),
    )
    .await
    .problem(422, "validation_failed");
    let merged = app
        .change(Method::POST, &path, &app.coordinator(), 1, Some(&body))
        .await;
    assert_eq!(merged.status, 200, "{}", merged.text);
    assert_eq!(merged.body["version"], 2);
    assert_eq!(merged.body["referrals"].as_array().unwrap().len(), 2);
    // The old id leads to the survivor.
    let old = app
        .get(&format!("/v1/people/{duplicate}"), &app.coordinator())
        .await;
    assert_eq!(old.status, 308);
    assert_eq!(
        old.header("location"),
        Some(format!("/v1/people/{survivor}").as_str())
    );
    let moved = app
        .get(
            &format!("/v1/referrals/{}", second.id()),
            &app.coordinator(),
        )
        .await;
    assert_eq!(moved.body["person_id"], json!(survivor));
    assert_eq!(moved.body["possible_duplicate_of"], json!(null));
    assert_eq!(moved.body["version"], 2);
    app.change(Method::POST, &path, &app.coordinator(), 2, Some(&body))
        .await
        .problem(409, "person_merged");
    app.change(
        Method::PATCH,
        &format!("/v1/people/{duplicate}"),
        &app.coordinator(),
        2,
        Some(&json!({"phone": null})),
    )
    .await
    .problem(409, "person_merged");

    let audit = linkwell_persistence::audit::recent(&mut app.db(), 50).unwrap();
    assert!(audit.iter().any(|e| e.action == "person.merge"
        && e.outcome == "success"
        && e.resource_type == "person"
        && e.resource_id == Some(survivor)));
}

#[tokio::test]
async fn a_flag_can_be_dismissed_and_different_nhs_numbers_never_merge() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let first = app
        .refer(&app.referrer(org), &without_nhs_number("F-1"))
        .await;
    let second = app
        .refer(&app.referrer(org), &without_nhs_number("F-2"))
        .await;
    let one = person_of(&app, &first).await;
    let two = person_of(&app, &second).await;
    let path = format!("/v1/people/{two}/dismiss-duplicate");
    let dismissed = app
        .change(Method::POST, &path, &app.coordinator(), 1, None)
        .await;
    assert_eq!(dismissed.status, 200, "{}", dismissed.text);
    assert_eq!(dismissed.body["possible_duplicate_of"], json!(null));
    app.change(Method::POST, &path, &app.coordinator(), 2, None)
        .await
        .problem(409, "not_flagged");

    // Give each a different NHS number: two people, whatever their names.
    for (id, nhs) in [(one, "999 000 0018"), (two, "999 000 0026")] {
        let version = if id == one { 1 } else { 2 };
        let reply = app
            .change(
                Method::PATCH,
                &format!("/v1/people/{id}"),
                &app.coordinator(),
                version,
                Some(&json!({"nhs_number": nhs})),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    app.change(
        Method::POST,
        &format!("/v1/people/{one}/merge"),
        &app.coordinator(),
        2,
        Some(&json!({"duplicate_id": two})),
    )
    .await
    .problem(409, "different_nhs_numbers");
    // An NHS number another record holds is refused.
    let taken = app
        .change(
            Method::PATCH,
            &format!("/v1/people/{two}"),
            &app.coordinator(),
            3,
            Some(&json!({"nhs_number": "9990000018"})),
        )
        .await;
    assert_eq!(taken.problem(409, "duplicate")["existing_id"], json!(one));
}

#[tokio::test]
async fn staff_correct_a_persons_details() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let referral = app.refer(&app.referrer(org), &referral_body("E-1")).await;
    let id = person_of(&app, &referral).await;
    let path = format!("/v1/people/{id}");
    let reply = app
        .change(
            Method::PATCH,
            &path,
            &app.coordinator(),
            1,
            Some(&json!({"email": null, "preferred_contact": "letter", "given_name": "Samuel"})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["given_name"], "Samuel");
    assert_eq!(reply.body["email"], json!(null));
    assert_eq!(reply.body["version"], 2);
    let bad = app
        .change(
            Method::PATCH,
            &path,
            &app.coordinator(),
            2,
            Some(&json!({"phone": "nope", "given_name": null, "postcode": "XX"})),
        )
        .await;
    bad.problem(422, "validation_failed");
    let pointers: Vec<String> = bad.field_errors().into_iter().map(|(p, _)| p).collect();
    assert_eq!(pointers, ["/given_name", "/phone", "/postcode"]);
    let needs = app
        .change(
            Method::PATCH,
            &path,
            &app.coordinator(),
            2,
            Some(&json!({"address": null})),
        )
        .await;
    assert_eq!(
        needs.field_errors(),
        [(
            "/preferred_contact".to_owned(),
            "contact_detail_missing".to_owned()
        )]
    );
    // The referral keeps the details as sent.
    let sent = app
        .get(
            &format!("/v1/referrals/{}", referral.id()),
            &app.coordinator(),
        )
        .await;
    assert_eq!(sent.body["person"]["given_name"], "Sam");
}

#[tokio::test]
async fn referrers_and_partners_never_reach_people() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let referral = app.refer(&app.referrer(org), &referral_body("X-1")).await;
    let id = person_of(&app, &referral).await;
    for role in [Role::Referrer, Role::Partner, Role::Commissioner] {
        let token = app.member(role).await;
        app.get(&format!("/v1/people/{id}"), &token)
            .await
            .problem(403, "forbidden");
        app.get("/v1/people?nhs_number=9990000018", &token)
            .await
            .problem(403, "forbidden");
        app.change(
            Method::PATCH,
            &format!("/v1/people/{id}"),
            &token,
            1,
            Some(&json!({"phone": null})),
        )
        .await
        .problem(403, "forbidden");
    }
    app.get(
        &format!("/v1/people/{}", Uuid::new_v4()),
        &app.coordinator(),
    )
    .await
    .problem(404, "not_found");
    for query in [
        "",
        "?family_name=Jones",
        "?date_of_birth=1950-02-28",
        "?nhs_number=123",
        "?nhs_number=9990000018&family_name=Jones",
    ] {
        app.get(&format!("/v1/people{query}"), &app.coordinator())
            .await
            .problem(400, "invalid_parameter");
    }
}
