//! Referral intake and reading.

use linkwell_domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Reply, TestApp, referral_body};

#[tokio::test]
async fn a_referrer_sends_a_referral_and_reads_it_back() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Riverside Surgery", "gp_practice").await;
    let token = app.referrer(org);
    let reply = app.refer(&token, &referral_body("EMIS-1")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let id = reply.id();
    assert_eq!(
        uuid::Uuid::parse_str(&id.to_string())
            .unwrap()
            .get_version_num(),
        7
    );
    assert_eq!(
        reply.header("location"),
        Some(format!("/v1/referrals/{id}").as_str())
    );
    assert_eq!(reply.header("etag"), Some("\"1\""));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let received_at = reply.body["received_at"].as_str().unwrap().to_owned();
    assert_eq!(received_at.len(), "2026-03-18T09:30:00.000000Z".len());
    assert!(received_at.ends_with('Z'));
    let reference = reply.body["reference"].as_str().unwrap().to_owned();
    assert!(
        reference.starts_with("LW-") && reference.len() == 9,
        "{reference}"
    );
    assert_eq!(
        reply.body,
        json!({
            "id": id,
            "reference": reference,
            "status": "received",
            "person": {
                "given_name": "Sam",
                "family_name": "Jones",
                "date_of_birth": "1950-02-28",
                "nhs_number": "9990000018",
                "phone": "01284 123456",
                "email": "sam.jones@example.org",
                "postcode": "IP33 3ND",
                "address": "1 Abbey Gate, Bury St Edmunds",
                "preferred_contact": "phone"
            },
            "source": "gp_practice",
            "reasons": ["loneliness", "money_and_benefits"],
            "specific_needs": [],
            "summary": "Lives alone since bereavement; worried about bills.",
            "referrer_org_id": org,
            "external_reference": "EMIS-1",
            "received_at": received_at,
            "updated_at": received_at,
            "version": 1,
            "status_reason": null,
            "status_reason_code": null,
            "gp_record_code": null,
            "assigned": false,
            "first_contact_at": null,
            "days_waiting": 0
        })
    );

    let read = app.get(&format!("/v1/referrals/{id}"), &token).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body, reply.body);
    assert_eq!(read.header("etag"), Some("\"1\""));
    assert_eq!(read.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn staff_may_enter_referrals_without_an_organisation() {
    let app = TestApp::spawn().await;
    let mut body = referral_body("ignored");
    body.as_object_mut().unwrap().remove("external_reference");
    body["source"] = json!("self");
    for token in [app.coordinator(), app.admin()] {
        let reply = app.refer(&token, &body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        assert_eq!(reply.body["referrer_org_id"], json!(null));
        assert_eq!(reply.body["external_reference"], json!(null));
    }
}

#[tokio::test]
async fn staff_referrals_are_never_filed_under_an_organisation() {
    let app = TestApp::spawn().await;
    let gp = app.organisation("Practice", "gp_practice").await;
    // A coordinator whose token happens to name an organisation.
    let coordinator = app.token(Role::Coordinator, Some(gp));
    let reply = app.refer(&coordinator, &referral_body("STAFF-1")).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body["referrer_org_id"], json!(null));
    let theirs = app.get("/v1/referrals", &app.referrer(gp)).await;
    assert_eq!(theirs.body["items"], json!([]));
    app.get(&format!("/v1/referrals/{}", reply.id()), &app.referrer(gp))
        .await
        .problem(404, "not_found");
}

#[tokio::test]
async fn a_referrer_sees_only_its_own_organisations_referrals() {
    let app = TestApp::spawn().await;
    let a = app.organisation("Practice A", "gp_practice").await;
    let b = app.organisation("Practice B", "gp_practice").await;
    let b_referral = app
        .refer(&app.referrer(b), &referral_body("B-1"))
        .await
        .id();
    let a_token = app.referrer(a);

    let request_id = "same-request-id";
    let get = |id: Uuid| {
        app.client
            .get(app.url(&format!("/v1/referrals/{id}")))
            .bearer_auth(&a_token)
            .header("x-request-id", request_id)
            .send()
    };
    let theirs = get(b_referral).await.unwrap();
    let nobody = get(Uuid::new_v4()).await.unwrap();
    assert_eq!(theirs.status(), 404);
    assert_eq!(nobody.status(), 404);
    let theirs = theirs.text().await.unwrap();
    assert_eq!(
        theirs,
        nobody.text().await.unwrap(),
        "another org's referral looks missing"
    );

    let list = app.get("/v1/referrals", &a_token).await;
    assert_eq!(list.body["items"], json!([]));
    // Staff see it.
    let read = app
        .get(&format!("/v1/referrals/{b_referral}"), &app.coordinator())
        .await;
    assert_eq!(read.status, StatusCode::OK);
}

#[tokio::test]
async fn the_same_external_reference_twice_from_one_organisation_is_409() {
    let app = TestApp::spawn().await;
    let a = app.organisation("Practice A", "gp_practice").await;
    let b = app.organisation("Practice B", "gp_practice").await;
    let first = app.refer(&app.referrer(a), &referral_body("EMIS-7")).await;
    let again = app.refer(&app.referrer(a), &referral_body("EMIS-7")).await;
    let problem = again.problem(409, "duplicate");
    assert_eq!(problem["existing_id"], first.body["id"]);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(first.body["id"].as_str().unwrap())
    );
    // Another organisation may use the same reference.
    let other = app.refer(&app.referrer(b), &referral_body("EMIS-7")).await;
    assert_eq!(other.status, StatusCode::CREATED);
}

async fn invalid(app: &TestApp, change: impl Fn(&mut Value)) -> Reply {
    let mut body = referral_body("V");
    change(&mut body);
    let reply = app.refer(&app.coordinator(), &body).await;
    reply.problem(422, "validation_failed");
    reply
}

#[tokio::test]
async fn every_invalid_field_is_reported_at_once() {
    let app = TestApp::spawn().await;
    let reply = invalid(&app, |b| {
        b["person"]["given_name"] = json!("");
        b["person"]["date_of_birth"] = json!("2999-01-01");
        b["person"]["nhs_number"] = json!("999 000 0019");
        b["person"]["postcode"] = json!("nowhere");
        b["person"]["email"] = json!("sam@");
        b["person"]["phone"] = json!("call me");
        b["source"] = json!("gp");
        b["reasons"] = json!([]);
        b["consent_to_share"] = json!(false);
        b["summary"] = json!("x".repeat(4001));
        b["external_reference"] = json!(" ");
    })
    .await;
    assert_eq!(
        reply.field_errors(),
        [
            ("/consent_to_share".into(), "consent_required".into()),
            ("/external_reference".into(), "blank".into()),
            (
                "/person/date_of_birth".into(),
                "date_of_birth_in_future".into()
            ),
            ("/person/email".into(), "email_format".into()),
            ("/person/given_name".into(), "blank".into()),
            ("/person/nhs_number".into(), "nhs_number_checksum".into()),
            ("/person/phone".into(), "phone_format".into()),
            ("/person/postcode".into(), "postcode_format".into()),
            ("/reasons".into(), "empty".into()),
            ("/source".into(), "unknown_code".into()),
            ("/summary".into(), "too_long".into()),
        ] as [(String, String); 11]
    );
    assert_eq!(reply.body["detail"], "11 fields are invalid");
    let list = app.get("/v1/referrals", &app.coordinator()).await;
    assert_eq!(list.body["items"], json!([]), "nothing stored");
}

#[tokio::test]
async fn nhs_numbers_are_checked_and_normalised() {
    let app = TestApp::spawn().await;
    for (input, stored) in [
        ("9990000026", "9990000026"),
        ("943 476 5919", "9434765919"),
        ("999-000-0018", "9990000018"),
    ] {
        let mut body = referral_body(input);
        body["person"]["nhs_number"] = json!(input);
        let reply = app.refer(&app.coordinator(), &body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{input}: {}", reply.text);
        assert_eq!(reply.body["person"]["nhs_number"], stored);
    }
    for (input, code) in [
        ("9990000000", "nhs_number_checksum"),
        ("9876544321", "nhs_number_checksum"),
        ("999000001", "nhs_number_format"),
        ("99 90 00 00 18", "nhs_number_format"),
        ("999 000 001A", "nhs_number_format"),
    ] {
        let reply = invalid(&app, |b| b["person"]["nhs_number"] = json!(input)).await;
        assert_eq!(
            reply.field_errors(),
            [("/person/nhs_number".into(), code.into())],
            "{input}"
        );
    }
}

#[tokio::test]
async fn server_owned_and_unknown_fields_are_rejected() {
    let app = TestApp::spawn().await;
    for field in [
        "id",
        "status",
        "version",
        "referrer_org_id",
        "received_at",
        "colour",
    ] {
        let reply = invalid(&app, |b| b[field] = json!("x")).await;
        assert_eq!(
            reply.field_errors(),
            [(format!("/{field}"), "unknown_field".into())]
        );
    }
    let reply = invalid(&app, |b| b["person"]["ssn"] = json!("x")).await;
    assert_eq!(
        reply.field_errors(),
        [("/person/ssn".into(), "unknown_field".into())]
    );
    let list = app.get("/v1/referrals", &app.coordinator()).await;
    assert_eq!(list.body["items"], json!([]), "nothing stored");
}

#[tokio::test]
async fn reasons_must_be_known_and_distinct() {
    let app = TestApp::spawn().await;
    for (reasons, code) in [
        (json!(["loneliness", "boredom"]), "unknown_code"),
        (json!(["housing", "housing"]), "duplicate"),
        (json!([]), "empty"),
    ] {
        let reply = invalid(&app, |b| b["reasons"] = reasons.clone()).await;
        assert_eq!(reply.field_errors(), [("/reasons".into(), code.into())]);
    }
}

#[tokio::test]
async fn a_contact_preference_needs_its_detail() {
    let app = TestApp::spawn().await;
    let reply = invalid(&app, |b| {
        b["person"]["preferred_contact"] = json!("email");
        b["person"].as_object_mut().unwrap().remove("email");
    })
    .await;
    assert_eq!(
        reply.field_errors(),
        [(
            "/person/preferred_contact".into(),
            "contact_detail_missing".into()
        )]
    );
    // Reported alongside every other broken field, not only once they are fixed.
    let reply = invalid(&app, |b| {
        b["person"]["preferred_contact"] = json!("letter");
        b["person"].as_object_mut().unwrap().remove("address");
        b["person"]["date_of_birth"] = json!("2999-01-01");
    })
    .await;
    assert_eq!(
        reply.field_errors(),
        [
            (
                "/person/date_of_birth".into(),
                "date_of_birth_in_future".into()
            ),
            (
                "/person/preferred_contact".into(),
                "contact_detail_missing".into()
            ),
        ]
    );
    let reply = invalid(&app, |b| b["person"]["preferred_contact"] = json!("pigeon")).await;
    assert_eq!(
        reply.field_errors(),
        [("/person/preferred_contact".into(), "unknown_code".into())]
    );
}

#[tokio::test]
async fn optional_person_details_may_be_left_out() {
    let app = TestApp::spawn().await;
    let body = json!({
        "person": {"given_name": "Ada", "family_name": "Byrne", "date_of_birth": "2001-07-09"},
        "source": "self",
        "reasons": ["employment_and_skills"],
        "consent_to_share": true
    });
    let reply = app.refer(&app.coordinator(), &body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(
        reply.body["person"],
        json!({
            "given_name": "Ada", "family_name": "Byrne", "date_of_birth": "2001-07-09",
            "nhs_number": null, "phone": null, "email": null, "postcode": null,
            "address": null, "preferred_contact": null
        })
    );
    assert_eq!(reply.body["summary"], json!(null));
}

#[tokio::test]
async fn commissioners_cannot_read_referrals_nor_partners_those_they_did_not_send() {
    let app = TestApp::spawn().await;
    let id = app
        .refer(&app.coordinator(), &referral_body("R"))
        .await
        .id();
    let partner = app.organisation("Partner", "partner").await;
    app.get(
        &format!("/v1/referrals/{id}"),
        &app.token(Role::Partner, Some(partner)),
    )
    .await
    .problem(404, "not_found");
    app.get(
        &format!("/v1/referrals/{id}"),
        &app.token(Role::Commissioner, None),
    )
    .await
    .problem(403, "forbidden");
}
