//! Finding referrals by what staff are told: the reference the person quotes, the person's
//! record, the referring organisation.

use linkwell_domain::Role;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Reply, TestApp, referral_body};

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
        .collect()
}

fn person(given: &str, family: &str, nhs: &str) -> Value {
    json!({"given_name": given, "family_name": family, "date_of_birth": "1960-01-01",
           "nhs_number": nhs})
}

fn ids(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, 200, "{}", reply.text);
    let mut ids: Vec<String> = reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn sorted(list: &[Uuid]) -> Vec<String> {
    let mut ids: Vec<String> = list.iter().map(Uuid::to_string).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn staff_find_referrals_by_reference_person_and_referrer() {
    let app = TestApp::spawn().await;
    let a = app.organisation("Riverside Surgery", "gp_practice").await;
    let b = app.organisation("Abbey Surgery", "gp_practice").await;
    let (ga, gb) = (app.referrer(a), app.referrer(b));
    let refer = async |token: &str, reference: &str, who: Value| {
        let mut body = referral_body(reference);
        body["person"] = who;
        let reply = app.refer(token, &body).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        (
            reply.id(),
            reply.body["reference"].as_str().unwrap().to_owned(),
        )
    };
    let sam = person("Sam", "Jones", "999 000 0018");
    let (a1, a1_reference) = refer(&ga, "A-1", sam.clone()).await;
    let (a2, _) = refer(&ga, "A-2", person("Alex", "Reed", "999 000 0026")).await;
    let (b1, _) = refer(&gb, "B-1", sam).await;
    let staff = app.coordinator();
    let read = app.get(&format!("/v1/referrals/{a1}"), &staff).await;
    let sam_id = read.body["person_id"].as_str().unwrap().to_owned();
    let read = app.get(&format!("/v1/referrals/{b1}"), &staff).await;
    assert_eq!(read.body["person_id"], json!(sam_id), "one record for Sam");

    // By the reference as the person reads it out: any case, spaced, without the hyphen.
    let code = &a1_reference[3..];
    for quoted in [
        a1_reference.clone(),
        a1_reference.to_lowercase(),
        format!("lw {}", code.to_lowercase()),
        format!("  {code} "),
    ] {
        let path = format!("/v1/referrals?reference={}", urlencode(&quoted));
        assert_eq!(
            ids(&app.get(&path, &staff).await),
            sorted(&[a1]),
            "{quoted}"
        );
    }
    let none = app.get("/v1/referrals?reference=LW-ZZZZZZ", &staff).await;
    assert_eq!(ids(&none), Vec::<String>::new());
    let bad = app.get("/v1/referrals?reference=LW-12", &staff).await;
    bad.problem(400, "invalid_parameter");
    assert_eq!(
        bad.field_errors(),
        pairs(&[("reference", "invalid_reference")])
    );
    // The referrer that sent it finds it; another organisation does not.
    let path = format!("/v1/referrals?reference={a1_reference}");
    assert_eq!(ids(&app.get(&path, &ga).await), sorted(&[a1]));
    assert_eq!(ids(&app.get(&path, &gb).await), Vec::<String>::new());

    // By person: every referral of theirs for staff, only its own for a referrer.
    let path = format!("/v1/referrals?person_id={sam_id}");
    assert_eq!(ids(&app.get(&path, &staff).await), sorted(&[a1, b1]));
    assert_eq!(ids(&app.get(&path, &ga).await), sorted(&[a1]));
    assert_eq!(ids(&app.get(&path, &gb).await), sorted(&[b1]));
    let bad = app.get("/v1/referrals?person_id=sam", &staff).await;
    bad.problem(400, "invalid_parameter");
    assert_eq!(bad.field_errors(), pairs(&[("person_id", "invalid_id")]));

    // By referring organisation: a referrer naming another sees nothing more.
    let path = format!("/v1/referrals?referrer_org_id={a}");
    assert_eq!(ids(&app.get(&path, &staff).await), sorted(&[a1, a2]));
    assert_eq!(ids(&app.get(&path, &ga).await), sorted(&[a1, a2]));
    assert_eq!(ids(&app.get(&path, &gb).await), Vec::<String>::new());
    let bad = app.get("/v1/referrals?referrer_org_id=1", &staff).await;
    assert_eq!(
        bad.field_errors(),
        pairs(&[("referrer_org_id", "invalid_id")])
    );

    // Filters combine with each other and with the existing ones.
    let path = format!("/v1/referrals?person_id={sam_id}&referrer_org_id={b}");
    assert_eq!(ids(&app.get(&path, &staff).await), sorted(&[b1]));
    let path = format!("/v1/referrals?referrer_org_id={a}&status=accepted");
    assert_eq!(ids(&app.get(&path, &staff).await), Vec::<String>::new());
    let reply = app
        .transition(a2, &staff, 1, &json!({"to": "accepted"}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(ids(&app.get(&path, &staff).await), sorted(&[a2]));

    // Paged, and the cursor is bound to the filter.
    let first = app
        .get(&format!("/v1/referrals?person_id={sam_id}&limit=1"), &staff)
        .await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(ids(&first), sorted(&[b1]), "newest first");
    let second = app
        .get(
            &format!("/v1/referrals?person_id={sam_id}&limit=1&cursor={cursor}"),
            &staff,
        )
        .await;
    assert_eq!(ids(&second), sorted(&[a1]));
    assert_eq!(second.body["next_cursor"], json!(null));
    for other in [
        format!("referrer_org_id={a}"),
        format!("person_id={sam_id}&reference={a1_reference}"),
        String::new(),
    ] {
        let reply = app
            .get(
                &format!("/v1/referrals?{other}&limit=1&cursor={cursor}"),
                &staff,
            )
            .await;
        reply.problem(400, "invalid_parameter");
        assert_eq!(reply.field_errors(), pairs(&[("cursor", "invalid_cursor")]));
    }
    // The change feed takes the filters too.
    let feed = app
        .get(
            &format!("/v1/referrals?updated_since=2000-01-01&reference={a1_reference}"),
            &app.token(Role::Admin, None),
        )
        .await;
    assert_eq!(ids(&feed), sorted(&[a1]));
}

fn urlencode(value: &str) -> String {
    value.replace(' ', "%20")
}
