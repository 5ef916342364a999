//! Identity safety: an NHS number never attaches a referral to someone else's record, one
//! current record per NHS number under concurrency, a referral's source fits its sender, the
//! minimum ages, and the input rules that keep records apart (numbers never issued, emails in
//! any case, hidden characters, far-off dates).

use std::collections::BTreeSet;

use chrono::{Months, Utc};
use futures_util::future::join_all;
use linkwell_domain::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::cli::linkwell;
use crate::support::{Reply, TestApp, referral_body};

/// Sam Jones's NHS number (the support body's), sent for someone else.
fn alex_with_sams_number(reference: &str) -> Value {
    let mut body = referral_body(reference);
    body["person"]["given_name"] = json!("Alex");
    body["person"]["family_name"] = json!("Smith");
    body["person"]["date_of_birth"] = json!("1980-05-05");
    body["person"]["phone"] = json!("07700 900999");
    body["person"]["email"] = json!("alex.smith@example.org");
    body["person"]["address"] = json!("9 Mill Lane");
    body
}

async fn staff_read(app: &TestApp, referral: Uuid) -> Reply {
    let read = app
        .get(&format!("/v1/referrals/{referral}"), &app.coordinator())
        .await;
    assert_eq!(read.status, 200, "{}", read.text);
    read
}

async fn person_of(app: &TestApp, referral: Uuid) -> Uuid {
    let read = staff_read(app, referral).await;
    Uuid::parse_str(read.body["person_id"].as_str().unwrap()).unwrap()
}

async fn accept(app: &TestApp, referral: Uuid) {
    let version = staff_read(app, referral).await.body["version"]
        .as_i64()
        .unwrap();
    let reply = app
        .transition(
            referral,
            &app.coordinator(),
            version,
            &json!({"to": "accepted"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

/// A partner organisation and a service it runs; returns both ids.
async fn partner_service(app: &TestApp, min_age: Option<i64>) -> (Uuid, Uuid) {
    let partner = app.organisation("Citizens Advice", "partner").await;
    let reply = app
        .post(
            "/v1/directory/services",
            &app.admin(),
            &json!({"name": "Debt advice", "description": "Help.", "needs": ["money_and_benefits"],
                    "organisation_id": partner, "accepts_referrals": true, "min_age": min_age}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    (partner, reply.id())
}

fn connection_body(service: Uuid) -> Value {
    json!({"service_id": service, "need": "money_and_benefits", "consent_to_share": true,
           "shared_fields": ["given_name", "family_name", "date_of_birth", "nhs_number", "phone",
                             "email", "address"]})
}

async fn connect(app: &TestApp, referral: Uuid, service: Uuid) -> Reply {
    app.post(
        &format!("/v1/referrals/{referral}/connections"),
        &app.coordinator(),
        &connection_body(service),
    )
    .await
}

async fn connection_count(app: &TestApp, referral: Uuid) -> usize {
    let list = app
        .get(
            &format!("/v1/referrals/{referral}/connections"),
            &app.coordinator(),
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    list.body["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn an_nhs_number_held_with_other_demographics_never_attaches() {
    let app = TestApp::spawn().await;
    let a = app.organisation("Practice A", "gp_practice").await;
    let b = app.organisation("Practice B", "gp_practice").await;
    let sam = app
        .refer(&app.referrer(a), &referral_body("A-1"))
        .await
        .id();
    let alex = app
        .refer(&app.referrer(b), &alex_with_sams_number("B-1"))
        .await;
    assert_eq!(alex.status, 201, "{}", alex.text);
    let alex = alex.id();
    let sams_record = person_of(&app, sam).await;
    let alexs_record = person_of(&app, alex).await;
    assert_ne!(alexs_record, sams_record, "never filed under Sam's record");

    // Staff see the flag and why, on the referral and on the record.
    let read = staff_read(&app, alex).await;
    assert_eq!(read.body["possible_duplicate_of"], json!(sams_record));
    assert_eq!(
        read.body["possible_duplicate_reason"],
        "nhs_number_demographics_differ"
    );
    let record = app
        .get(&format!("/v1/people/{alexs_record}"), &app.coordinator())
        .await;
    assert_eq!(record.status, 200, "{}", record.text);
    assert_eq!(record.body["given_name"], "Alex");
    assert_eq!(record.body["family_name"], "Smith");
    assert_eq!(record.body["phone"], "07700 900999");
    assert_eq!(record.body["nhs_number"], "9990000018");
    assert_eq!(record.body["possible_duplicate_of"], json!(sams_record));
    assert_eq!(
        record.body["possible_duplicate_reason"],
        "nhs_number_demographics_differ"
    );
    // Sam's record is untouched and unflagged.
    let sams = app
        .get(&format!("/v1/people/{sams_record}"), &app.coordinator())
        .await;
    assert_eq!(sams.body["family_name"], "Jones");
    assert_eq!(sams.body["version"], 1);
    assert_eq!(sams.body["possible_duplicate_of"], json!(null));
    assert_eq!(sams.body["possible_duplicate_reason"], json!(null));
    assert_eq!(sams.body["referrals"].as_array().unwrap().len(), 1);
    let read = staff_read(&app, sam).await;
    assert_eq!(read.body["possible_duplicate_reason"], json!(null));
    // The referrer reads back what it sent, never the flag.
    let theirs = app
        .get(&format!("/v1/referrals/{alex}"), &app.referrer(b))
        .await;
    assert_eq!(theirs.body["person"]["family_name"], "Smith");
    assert!(theirs.body.get("possible_duplicate_of").is_none());
    assert!(theirs.body.get("possible_duplicate_reason").is_none());

    // Only the date of birth differs: flagged too. The same family name in another case and
    // spacing, with another given name, is the same person.
    let mut born_later = referral_body("A-2");
    born_later["person"]["date_of_birth"] = json!("1951-02-28");
    let born_later = app.refer(&app.referrer(a), &born_later).await.id();
    let read = staff_read(&app, born_later).await;
    assert_ne!(read.body["person_id"], json!(sams_record));
    assert_eq!(read.body["possible_duplicate_of"], json!(sams_record));
    assert_eq!(
        read.body["possible_duplicate_reason"],
        "nhs_number_demographics_differ"
    );
    let mut same = referral_body("A-3");
    same["person"]["given_name"] = json!("Samuel");
    same["person"]["family_name"] = json!("  JO NES ");
    let same = app.refer(&app.referrer(a), &same).await.id();
    assert_eq!(person_of(&app, same).await, sams_record);
    // Alex referred again: filed with the record already flagged for Alex, not a third.
    let again = app
        .refer(&app.referrer(b), &alex_with_sams_number("B-2"))
        .await
        .id();
    assert_eq!(person_of(&app, again).await, alexs_record);
    let found = app
        .get("/v1/people?nhs_number=9990000018", &app.coordinator())
        .await;
    assert_eq!(found.body["items"].as_array().unwrap().len(), 3);

    // No connection from a referral of the flagged record; nothing stored.
    let (_, service) = partner_service(&app, None).await;
    accept(&app, alex).await;
    connect(&app, alex, service)
        .await
        .problem(409, "identity_unconfirmed");
    assert_eq!(connection_count(&app, alex).await, 0);
    // Sam's own referrals are not held up.
    accept(&app, sam).await;
    assert_eq!(connect(&app, sam, service).await.status, 201);

    // The flag cannot be dismissed while the two records share the number.
    let dismiss = format!("/v1/people/{alexs_record}/dismiss-duplicate");
    app.change(Method::POST, &dismiss, &app.coordinator(), 1, None)
        .await
        .problem(409, "nhs_number_shared");
    let still = app
        .get(&format!("/v1/people/{alexs_record}"), &app.coordinator())
        .await;
    assert_eq!(still.body["version"], 1);
    assert_eq!(
        still.body["possible_duplicate_reason"],
        "nhs_number_demographics_differ"
    );
    let audit = linkwell_persistence::audit::recent(&mut app.db(), 50).unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "connection.create" && e.outcome == "conflict"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn a_corrected_number_confirms_identity_and_partners_see_only_the_sent_person() {
    let app = TestApp::spawn().await;
    let a = app.organisation("Practice A", "gp_practice").await;
    let b = app.organisation("Practice B", "gp_practice").await;
    let sam = app
        .refer(&app.referrer(a), &referral_body("A-1"))
        .await
        .id();
    let alex = app
        .refer(&app.referrer(b), &alex_with_sams_number("B-1"))
        .await
        .id();
    let alexs_record = person_of(&app, alex).await;
    let (partner, service) = partner_service(&app, None).await;
    accept(&app, alex).await;
    accept(&app, sam).await;

    // Staff find Alex's real number, correct it, then dismiss the flag.
    let patched = app
        .change(
            Method::PATCH,
            &format!("/v1/people/{alexs_record}"),
            &app.coordinator(),
            1,
            Some(&json!({"phone": "07700 900998", "nhs_number": "999 000 0026"})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(
        patched.body["possible_duplicate_reason"],
        "nhs_number_demographics_differ"
    );
    connect(&app, alex, service)
        .await
        .problem(409, "identity_unconfirmed");
    let dismissed = app
        .change(
            Method::POST,
            &format!("/v1/people/{alexs_record}/dismiss-duplicate"),
            &app.coordinator(),
            2,
            None,
        )
        .await;
    assert_eq!(dismissed.status, 200, "{}", dismissed.text);
    assert_eq!(dismissed.body["possible_duplicate_of"], json!(null));
    assert_eq!(dismissed.body["possible_duplicate_reason"], json!(null));
    let read = staff_read(&app, alex).await;
    assert_eq!(read.body["possible_duplicate_reason"], json!(null));

    let made = connect(&app, alex, service).await;
    assert_eq!(made.status, 201, "{}", made.text);
    let sams = connect(&app, sam, service).await;
    assert_eq!(sams.status, 201, "{}", sams.text);

    // The partner sees each person as themselves: never the other's details.
    let token = app.token(Role::Partner, Some(partner));
    let alex_seen = app
        .get(&format!("/v1/connections/{}", made.id()), &token)
        .await;
    assert_eq!(alex_seen.status, 200, "{}", alex_seen.text);
    assert_eq!(
        alex_seen.body["person"],
        json!({"given_name": "Alex", "family_name": "Smith", "date_of_birth": "1980-05-05",
               "nhs_number": "9990000026", "phone": "07700 900998",
               "email": "alex.smith@example.org", "address": "9 Mill Lane"})
    );
    for sams_detail in [
        "Jones",
        "1950-02-28",
        "01284 123456",
        "Abbey Gate",
        "9990000018",
    ] {
        assert!(!alex_seen.text.contains(sams_detail), "{}", alex_seen.text);
    }
    let sam_seen = app
        .get(&format!("/v1/connections/{}", sams.id()), &token)
        .await;
    assert_eq!(sam_seen.body["person"]["family_name"], "Jones");
    for alexs_detail in [
        "Smith",
        "1980-05-05",
        "07700 9009",
        "Mill Lane",
        "9990000026",
    ] {
        assert!(!sam_seen.text.contains(alexs_detail), "{}", sam_seen.text);
    }
    let feed = app
        .get("/v1/connections?updated_since=2026-01-01", &token)
        .await;
    assert_eq!(feed.body["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn merging_confirms_identity_either_way_round() {
    let app = TestApp::spawn().await;
    let a = app.organisation("Practice A", "gp_practice").await;
    let b = app.organisation("Practice B", "gp_practice").await;
    let (_, service) = partner_service(&app, None).await;
    // The flagged record survives: it takes the number over from the merged one.
    let sam = app
        .refer(&app.referrer(a), &referral_body("A-1"))
        .await
        .id();
    let alex = app
        .refer(&app.referrer(b), &alex_with_sams_number("B-1"))
        .await
        .id();
    let (sams_record, alexs_record) = (person_of(&app, sam).await, person_of(&app, alex).await);
    let merged = app
        .change(
            Method::POST,
            &format!("/v1/people/{alexs_record}/merge"),
            &app.coordinator(),
            1,
            Some(&json!({"duplicate_id": sams_record})),
        )
        .await;
    assert_eq!(merged.status, 200, "{}", merged.text);
    assert_eq!(merged.body["possible_duplicate_of"], json!(null));
    assert_eq!(merged.body["possible_duplicate_reason"], json!(null));
    accept(&app, alex).await;
    assert_eq!(connect(&app, alex, service).await.status, 201);
    // A new referral with the number files under the survivor.
    let mut later = alex_with_sams_number("B-2");
    later["person"]["family_name"] = json!("SMITH");
    let later = app.refer(&app.referrer(b), &later).await.id();
    assert_eq!(person_of(&app, later).await, alexs_record);

    // The other way round, for a second number.
    let mut tom = referral_body("A-9");
    tom["person"]["nhs_number"] = json!("943 476 5919");
    tom["person"]["given_name"] = json!("Tom");
    let tom = app.refer(&app.referrer(a), &tom).await.id();
    let mut other = alex_with_sams_number("B-9");
    other["person"]["nhs_number"] = json!("943 476 5919");
    let other = app.refer(&app.referrer(b), &other).await.id();
    let (toms_record, others_record) = (person_of(&app, tom).await, person_of(&app, other).await);
    assert_ne!(toms_record, others_record);
    let merged = app
        .change(
            Method::POST,
            &format!("/v1/people/{toms_record}/merge"),
            &app.coordinator(),
            1,
            Some(&json!({"duplicate_id": others_record})),
        )
        .await;
    assert_eq!(merged.status, 200, "{}", merged.text);
    accept(&app, other).await;
    assert_eq!(person_of(&app, other).await, toms_record);
    assert_eq!(connect(&app, other, service).await.status, 201);
}

#[tokio::test]
async fn a_similar_name_keeps_its_own_reason_and_holds_nothing_up() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let (_, service) = partner_service(&app, None).await;
    let first = app
        .refer(&app.referrer(org), &referral_body("S-1"))
        .await
        .id();
    let mut second = referral_body("S-2");
    second["person"]
        .as_object_mut()
        .unwrap()
        .remove("nhs_number");
    let second = app.refer(&app.referrer(org), &second).await.id();
    let read = staff_read(&app, second).await;
    assert_eq!(
        read.body["possible_duplicate_of"],
        json!(person_of(&app, first).await)
    );
    assert_eq!(
        read.body["possible_duplicate_reason"],
        "similar_name_and_date_of_birth"
    );
    accept(&app, second).await;
    assert_eq!(connect(&app, second, service).await.status, 201);
    let record = person_of(&app, second).await;
    let dismissed = app
        .change(
            Method::POST,
            &format!("/v1/people/{record}/dismiss-duplicate"),
            &app.coordinator(),
            1,
            None,
        )
        .await;
    assert_eq!(dismissed.status, 200, "{}", dismissed.text);
    assert_eq!(dismissed.body["possible_duplicate_reason"], json!(null));
}

#[tokio::test]
async fn ten_concurrent_referrals_with_one_new_nhs_number_make_one_person() {
    // A connection for each, so all ten race.
    let app = TestApp::spawn_with(|c| c.pool.max_size = 10).await;
    let org = app.organisation("Practice", "gp_practice").await;
    let token = app.referrer(org);
    let replies = join_all((0..10).map(|i| {
        let (app, token) = (&app, &token);
        async move { app.refer(token, &referral_body(&format!("RACE-{i}"))).await }
    }))
    .await;
    let mut people = BTreeSet::new();
    for reply in &replies {
        assert_eq!(reply.status, 201, "{}", reply.text);
        people.insert(person_of(&app, reply.id()).await);
    }
    assert_eq!(people.len(), 1, "{people:?}");
    let found = app
        .get("/v1/people?nhs_number=9990000018", &app.coordinator())
        .await;
    assert_eq!(found.body["items"].as_array().unwrap().len(), 1);
    let record = &found.body["items"][0];
    assert_eq!(record["possible_duplicate_of"], json!(null));
    let person = record["id"].as_str().unwrap();
    let read = app
        .get(&format!("/v1/people/{person}"), &app.coordinator())
        .await;
    assert_eq!(read.body["referrals"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn the_database_keeps_one_current_record_per_nhs_number() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let mut first = referral_body("U-1");
    first["person"]["nhs_number"] = json!("999 000 0026");
    app.refer(&app.referrer(org), &first).await;
    let mut second = referral_body("U-2");
    second["person"]
        .as_object_mut()
        .unwrap()
        .remove("nhs_number");
    second["person"]["family_name"] = json!("Other");
    let second = app.refer(&app.referrer(org), &second).await.id();
    let record = person_of(&app, second).await;
    // Giving the second record the first's number is refused, naming the holder.
    let reply = app
        .change(
            Method::PATCH,
            &format!("/v1/people/{record}"),
            &app.coordinator(),
            1,
            Some(&json!({"nhs_number": "9990000026"})),
        )
        .await;
    reply.problem(409, "duplicate");
    // And below the API, the index refuses a second unflagged current record.
    use diesel::RunQueryDsl;
    let sql = format!("UPDATE people SET nhs_number = '9990000026' WHERE id = '{record}'");
    let refused = diesel::sql_query(sql).execute(&mut app.db());
    assert!(
        matches!(
            refused,
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        ),
        "{refused:?}"
    );
}

async fn refer_as(app: &TestApp, token: &str, source: Option<&str>, reference: &str) -> Reply {
    let mut body = referral_body(reference);
    match source {
        Some(source) => body["source"] = json!(source),
        None => {
            body.as_object_mut().unwrap().remove("source");
        }
    }
    app.refer(token, &body).await
}

#[tokio::test]
async fn the_source_fits_the_sender() {
    let app = TestApp::spawn().await;
    let agency = app.referrer(app.organisation("Hospital discharge", "agency").await);
    let practice = app.referrer(app.organisation("Practice", "gp_practice").await);
    let group = app.referrer(app.organisation("Faith group", "community_group").await);
    for claimed in ["gp_practice", "self", "family_or_friend", "community"] {
        let reply = refer_as(&app, &agency, Some(claimed), &format!("AG-{claimed}")).await;
        reply.problem(422, "validation_failed");
        assert_eq!(
            reply.field_errors(),
            [("/source".into(), "source_not_allowed".into())],
            "{claimed}"
        );
    }
    for claimed in ["self", "other_agency", "family_or_friend"] {
        let reply = refer_as(&app, &practice, Some(claimed), &format!("GP-{claimed}")).await;
        assert_eq!(
            reply.field_errors(),
            [("/source".into(), "source_not_allowed".into())],
            "{claimed}"
        );
    }
    let staff = app.coordinator();
    let list = app.get("/v1/referrals", &staff).await;
    assert_eq!(list.body["items"], json!([]), "nothing stored");

    // Left out, the source follows from the organisation's kind; its own may be sent.
    for (token, expected) in [
        (&agency, "other_agency"),
        (&practice, "gp_practice"),
        (&group, "community"),
    ] {
        let reply = refer_as(&app, token, None, &format!("OMIT-{expected}")).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        assert_eq!(reply.body["source"], expected);
        let reply = refer_as(&app, token, Some(expected), &format!("SENT-{expected}")).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        assert_eq!(reply.body["source"], expected);
    }
    // Staff enter referrals that came any way, and must say which.
    let reply = refer_as(&app, &staff, None, "STAFF-1").await;
    assert_eq!(
        reply.field_errors(),
        [("/source".into(), "required".into())]
    );
    let reply = refer_as(&app, &staff, Some("family_or_friend"), "STAFF-2").await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.body["source"], "family_or_friend");
    // A token for an organisation nobody registered refers nothing.
    let unknown = app.referrer(Uuid::new_v4());
    let reply = refer_as(&app, &unknown, None, "UNKNOWN-1").await;
    reply.problem(401, "unauthorized");
}

fn born_years_ago(years: u32) -> String {
    let today = Utc::now().date_naive();
    today
        .checked_sub_months(Months::new(12 * years))
        .unwrap()
        .format("%Y-%m-%d")
        .to_string()
}

#[tokio::test]
async fn the_minimum_age_applies_to_every_source() {
    let app = TestApp::spawn().await;
    let practice = app.referrer(app.organisation("Practice", "gp_practice").await);
    let agency = app.referrer(app.organisation("Police", "agency").await);
    let staff = app.coordinator();
    let young = |reference: &str, source: Option<&str>| {
        let mut body = referral_body(reference);
        body["person"]["date_of_birth"] = json!(born_years_ago(15));
        body["person"]["nhs_number"] = json!(null);
        match source {
            Some(s) => body["source"] = json!(s),
            None => {
                body.as_object_mut().unwrap().remove("source");
            }
        }
        body
    };
    for (token, body) in [
        (&practice, young("Y-1", None)),
        (&agency, young("Y-2", None)),
        (&staff, young("Y-3", Some("family_or_friend"))),
        (&staff, young("Y-4", Some("community"))),
    ] {
        let reply = app.refer(token, &body).await;
        reply.problem(422, "not_eligible_age");
        assert_eq!(
            reply.field_errors(),
            [("/person/date_of_birth".into(), "not_eligible_age".into())]
        );
    }
    assert_eq!(
        app.get("/v1/referrals", &staff).await.body["items"],
        json!([])
    );
    // Sixteen today is old enough.
    let mut sixteen = referral_body("Y-5");
    sixteen["person"]["date_of_birth"] = json!(born_years_ago(16));
    assert_eq!(app.refer(&practice, &sixteen).await.status, 201);

    // The configured age binds every route too.
    let strict = TestApp::spawn_with(|c| c.min_age = 18).await;
    let gp = strict.referrer(strict.organisation("Practice", "gp_practice").await);
    let mut seventeen = referral_body("Z-1");
    seventeen["person"]["date_of_birth"] = json!(born_years_ago(17));
    strict
        .refer(&gp, &seventeen)
        .await
        .problem(422, "not_eligible_age");
}

#[test]
fn the_minimum_age_setting_has_a_new_name_and_keeps_the_old() {
    for name in ["LINKWELL_MIN_AGE", "LINKWELL_SELF_REFERRAL_MIN_AGE"] {
        let dir = tempfile::tempdir().unwrap();
        let output = linkwell()
            .current_dir(dir.path())
            .env_remove("LINKWELL_MIN_AGE")
            .env_remove("LINKWELL_SELF_REFERRAL_MIN_AGE")
            .env(name, "121")
            .args(["serve", "--bind", "127.0.0.1:0"])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("{name} is not a valid value")),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn a_service_minimum_age_is_checked_when_connecting() {
    let app = TestApp::spawn().await;
    let practice = app.organisation("Practice", "gp_practice").await;
    let (_, over_25) = partner_service(&app, Some(25)).await;
    let reply = app
        .post(
            "/v1/directory/services",
            &app.admin(),
            &json!({"name": "Youth club", "description": "Fun.", "needs": ["loneliness"],
                    "accepts_referrals": false, "min_age": 20}),
        )
        .await;
    let over_20 = reply.id();
    let mut body = referral_body("M-1");
    body["person"]["date_of_birth"] = json!(born_years_ago(20));
    let referral = app.refer(&app.referrer(practice), &body).await.id();
    accept(&app, referral).await;

    let reply = connect(&app, referral, over_25).await;
    reply.problem(422, "below_service_min_age");
    assert_eq!(
        reply.field_errors(),
        [("/service_id".into(), "below_service_min_age".into())]
    );
    assert_eq!(connection_count(&app, referral).await, 0);
    let audit = linkwell_persistence::audit::recent(&mut app.db(), 20).unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "connection.create" && e.outcome == "rejected"),
        "{audit:?}"
    );

    // Twenty today is old enough for a service for 20 and over.
    let signpost = app
        .post(
            &format!("/v1/referrals/{referral}/connections"),
            &app.coordinator(),
            &json!({"service_id": over_20, "need": "loneliness", "consent_to_share": true,
                    "shared_fields": ["given_name"]}),
        )
        .await;
    assert_eq!(signpost.status, 201, "{}", signpost.text);
}

#[tokio::test]
async fn nhs_numbers_never_issued_are_refused() {
    let app = TestApp::spawn().await;
    for (i, number) in ["0000000000", "111 111 1111", "999-999-9999"]
        .into_iter()
        .enumerate()
    {
        let mut body = referral_body(&format!("N-{i}"));
        body["person"]["nhs_number"] = json!(number);
        let reply = app.refer(&app.coordinator(), &body).await;
        reply.problem(422, "validation_failed");
        assert_eq!(
            reply.field_errors(),
            [("/person/nhs_number".into(), "nhs_number_not_issued".into())],
            "{number}"
        );
    }
}

#[tokio::test]
async fn user_emails_are_unique_whatever_their_case() {
    let app = TestApp::spawn().await;
    let first = app
        .post(
            "/v1/users",
            &app.admin(),
            &json!({"email": "Jo.Link@Example.org", "display_name": "Jo", "role": "coordinator"}),
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    for (i, again) in ["jo.link@example.org", "JO.LINK@EXAMPLE.ORG"]
        .into_iter()
        .enumerate()
    {
        let reply = app
            .post(
                "/v1/users",
                &app.admin(),
                &json!({"email": again, "display_name": format!("Jo {i}"), "role": "coordinator"}),
            )
            .await;
        reply.problem(409, "duplicate");
        assert_eq!(reply.body["existing_id"], json!(first.id()));
    }
    // Concurrent registrations in different case: exactly one.
    let replies = join_all((0..6).map(|i| {
        let app = &app;
        let email = if i % 2 == 0 {
            "Pat@example.org"
        } else {
            "pAT@example.org"
        };
        async move {
            app.post(
                "/v1/users",
                &app.admin(),
                &json!({"email": email, "display_name": "Pat", "role": "coordinator"}),
            )
            .await
        }
    }))
    .await;
    let made = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(made, 1);
    for reply in replies.iter().filter(|r| r.status != 201) {
        reply.problem(409, "duplicate");
    }
}

#[tokio::test]
async fn a_website_refuses_hidden_characters_like_any_text() {
    let app = TestApp::spawn().await;
    let body = |website: &str| {
        json!({"name": "Lunch club", "description": "Lunch.", "needs": ["loneliness"],
               "accepts_referrals": false, "contact": {"website": website}})
    };
    for website in [
        "https://example.org/\u{202E}exe.pdf",
        "https://exa\u{200B}mple.org/",
        "https://example.org/\u{2066}x",
    ] {
        let reply = app
            .post("/v1/directory/services", &app.coordinator(), &body(website))
            .await;
        reply.problem(422, "validation_failed");
        assert_eq!(
            reply.field_errors(),
            [("/contact/website".into(), "control_characters".into())],
            "{website:?}"
        );
    }
    let made = app
        .post(
            "/v1/directory/services",
            &app.coordinator(),
            &body("https://example.org/lunch"),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let reply = app
        .change(
            Method::PATCH,
            &format!("/v1/directory/services/{}", made.id()),
            &app.coordinator(),
            1,
            Some(&json!({"contact": {"website": "https://example.org/\u{202E}x"}})),
        )
        .await;
    reply.problem(422, "validation_failed");
    assert_eq!(
        reply.field_errors(),
        [("/contact/website".into(), "control_characters".into())]
    );
}

#[tokio::test]
async fn goal_target_dates_have_sane_bounds() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let referral = app.accepted(org, "G-1").await;
    let goals = format!("/v1/referrals/{referral}/plan/goals");
    let today = Utc::now().date_naive();
    let eleven_years = today
        .checked_add_months(Months::new(12 * 11))
        .unwrap()
        .to_string();
    for bad in ["1999-12-31", "0026-06-01", eleven_years.as_str()] {
        let reply = app
            .post(
                &goals,
                &app.coordinator(),
                &json!({"description": "Join a walking group", "target_date": bad}),
            )
            .await;
        reply.problem(422, "validation_failed");
        assert_eq!(
            reply.field_errors(),
            [("/target_date".into(), "out_of_range".into())],
            "{bad}"
        );
    }
    let nine_years = today
        .checked_add_months(Months::new(12 * 9))
        .unwrap()
        .to_string();
    let made = app
        .post(
            &goals,
            &app.coordinator(),
            &json!({"description": "Join a walking group", "target_date": nine_years}),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    assert_eq!(made.body["target_date"], json!(nine_years));
    let reply = app
        .change(
            Method::PATCH,
            &format!("/v1/goals/{}", made.id()),
            &app.coordinator(),
            1,
            Some(&json!({"target_date": "1999-01-01"})),
        )
        .await;
    reply.problem(422, "validation_failed");
    assert_eq!(
        reply.field_errors(),
        [("/target_date".into(), "out_of_range".into())]
    );
}
