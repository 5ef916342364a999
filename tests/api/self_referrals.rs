//! Self-referral: no token, an age rule, a short reference back, and a rate limit per address.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Reply, TestApp};

fn body(date_of_birth: &str) -> Value {
    json!({
        "person": {
            "given_name": "Alex",
            "family_name": "Reed",
            "date_of_birth": date_of_birth,
            "phone": "07700 900456",
            "postcode": "IP33 1AA"
        },
        "reasons": ["loneliness"],
        "consent_to_share": true,
        "preferred_contact": "text",
        "summary": "I have been on my own since moving here."
    })
}

async fn self_refer(app: &TestApp, body: &Value, headers: &[(&str, &str)]) -> Reply {
    let mut request = app.client.post(app.url("/v1/self-referrals")).json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Reply {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        headers,
        text,
    }
}

/// A date of birth `years` ago today (UTC), moved by `days_later`.
fn born_years_ago(years: u32, days_later: i64) -> String {
    let today = chrono::Utc::now().date_naive();
    let date = today
        .checked_sub_months(chrono::Months::new(12 * years))
        .unwrap()
        + chrono::Duration::days(days_later);
    date.format("%Y-%m-%d").to_string()
}

#[tokio::test]
async fn a_person_refers_themselves_and_gets_only_a_reference() {
    let app = TestApp::spawn().await;
    let reply = self_refer(&app, &body("1990-05-01"), &[]).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let keys: Vec<&String> = reply.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["reference"]);
    let reference = reply.body["reference"].as_str().unwrap().to_owned();
    assert!(reference.starts_with("LW-") && reference.len() == 9);
    assert!(reply.header("location").is_none());
    assert!(reply.header("etag").is_none());

    let list = app.get("/v1/referrals", &app.coordinator()).await;
    let item = &list.body["items"][0];
    assert_eq!(item["reference"], json!(reference));
    assert_eq!(item["source"], "self");
    assert_eq!(item["person"]["preferred_contact"], "text");
    assert_eq!(item["referrer_org_id"], json!(null));
    assert_eq!(item["introduced_by"], json!(null));
    let history = app
        .get(
            &format!("/v1/referrals/{}/history", item["id"].as_str().unwrap()),
            &app.coordinator(),
        )
        .await;
    assert_eq!(history.body["items"][0]["role"], json!(null));
    assert_eq!(history.body["items"][0]["by"], "anonymous@127.0.0.1");
}

#[tokio::test]
async fn someone_who_knows_them_introduces_them() {
    let app = TestApp::spawn().await;
    let mut sent = body("1948-11-02");
    sent["introduced_by"] = json!({
        "name": "Pat Moss", "relationship": "neighbour", "phone": "01284 765432"
    });
    let reply = self_refer(&app, &sent, &[("idempotency-key", "intro-1")]).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let again = self_refer(&app, &sent, &[("idempotency-key", "intro-1")]).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, reply.body);
    let list = app.get("/v1/referrals", &app.coordinator()).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    let item = &list.body["items"][0];
    assert_eq!(item["source"], "family_or_friend");
    assert_eq!(
        item["introduced_by"],
        json!({"name": "Pat Moss", "relationship": "neighbour", "phone": "01284 765432", "email": null})
    );
}

#[tokio::test]
async fn eligibility_and_contact_rules() {
    let app = TestApp::spawn().await;
    let sixteen_today = self_refer(&app, &body(&born_years_ago(16, 0)), &[]).await;
    assert_eq!(sixteen_today.status, 201, "{}", sixteen_today.text);
    let too_young = self_refer(&app, &body(&born_years_ago(16, 1)), &[]).await;
    let problem = too_young.problem(422, "not_eligible_age");
    assert_eq!(
        too_young.field_errors(),
        [(
            "/person/date_of_birth".to_owned(),
            "not_eligible_age".to_owned()
        )]
    );
    assert!(problem["detail"].as_str().unwrap().contains("16"));

    let mut no_phone = body("1990-05-01");
    no_phone["person"].as_object_mut().unwrap().remove("phone");
    let reply = self_refer(&app, &no_phone, &[]).await;
    assert_eq!(
        reply.field_errors(),
        [(
            "/preferred_contact".to_owned(),
            "contact_detail_missing".to_owned()
        )]
    );
    let mut missing = body("1990-05-01");
    missing.as_object_mut().unwrap().remove("preferred_contact");
    let reply = self_refer(&app, &missing, &[]).await;
    assert_eq!(
        reply.field_errors(),
        [("/preferred_contact".to_owned(), "required".to_owned())]
    );
    let mut mismatch = body("1990-05-01");
    mismatch["person"]["preferred_contact"] = json!("phone");
    let reply = self_refer(&app, &mismatch, &[]).await;
    assert_eq!(
        reply.field_errors(),
        [(
            "/person/preferred_contact".to_owned(),
            "contact_mismatch".to_owned()
        )]
    );
    let mut no_consent = body("1990-05-01");
    no_consent["consent_to_share"] = json!(false);
    self_refer(&app, &no_consent, &[])
        .await
        .problem(422, "validation_failed");
    // A token that does not verify is refused, not ignored.
    let forged = app
        .call(
            Method::POST,
            "/v1/self-referrals",
            Some("not-a-token"),
            Some(&body("1990-05-01")),
        )
        .await;
    forged.problem(401, "unauthorized");
}

/// Staff entering self-referrals on people's behalf are named by their token and are held to
/// their own allowance (`browsers.rs`), not the per-address limit that keeps anonymous callers
/// in check.
#[tokio::test]
async fn a_token_lifts_the_self_referral_limit_and_names_who_entered_it() {
    let app = TestApp::spawn_with(|config| {
        config.public_rate_per_minute = std::num::NonZeroU32::new(2).unwrap();
    })
    .await;
    for _ in 0..2 {
        assert_eq!(self_refer(&app, &body("1990-05-01"), &[]).await.status, 201);
    }
    self_refer(&app, &body("1990-05-01"), &[])
        .await
        .problem(429, "rate_limited");
    let staff = app.coordinator();
    for n in 0..5 {
        let reply = app
            .call(
                Method::POST,
                "/v1/self-referrals",
                Some(&staff),
                Some(&body("1990-05-01")),
            )
            .await;
        assert_eq!(reply.status, 201, "request {n}: {}", reply.text);
    }
    let history = linkwell_persistence::audit::recent(&mut app.db(), 20).unwrap();
    let by_staff = history
        .iter()
        .filter(|e| e.action == "referral.self_refer" && e.actor_role == "coordinator")
        .count();
    let anonymous = history
        .iter()
        .filter(|e| e.action == "referral.self_refer" && e.actor_role == "anonymous")
        .count();
    assert_eq!((by_staff, anonymous), (5, 2));
}

#[tokio::test]
async fn each_address_may_self_refer_ten_times_a_minute() {
    let app = TestApp::spawn().await;
    for n in 0..10 {
        let reply = self_refer(&app, &body("1990-05-01"), &[]).await;
        assert_eq!(reply.status, 201, "request {n}: {}", reply.text);
    }
    let limited = self_refer(&app, &body("1990-05-01"), &[]).await;
    limited.problem(429, "rate_limited");
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=6).contains(&wait), "{wait}");
    // Broken requests count too, and nothing is stored for them.
    self_refer(&app, &json!({}), &[])
        .await
        .problem(429, "rate_limited");
    // X-Forwarded-For is not believed from an untrusted peer.
    self_refer(
        &app,
        &body("1990-05-01"),
        &[("x-forwarded-for", "203.0.113.9")],
    )
    .await
    .problem(429, "rate_limited");
    let list = app.get("/v1/referrals", &app.coordinator()).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance() {
    let app = TestApp::spawn_with(|config| {
        config.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        config.public_rate_per_minute = std::num::NonZeroU32::new(2).unwrap();
    })
    .await;
    for client in ["203.0.113.9", "198.51.100.7"] {
        for _ in 0..2 {
            let forwarded = format!("{client}, 127.0.0.1");
            let reply = self_refer(
                &app,
                &body("1990-05-01"),
                &[("x-forwarded-for", &forwarded)],
            )
            .await;
            assert_eq!(reply.status, 201, "{}", reply.text);
        }
        self_refer(&app, &body("1990-05-01"), &[("x-forwarded-for", client)])
            .await
            .problem(429, "rate_limited");
    }
    let history = linkwell_persistence::audit::recent(&mut app.db(), 10).unwrap();
    assert!(
        history
            .iter()
            .any(|e| e.actor_sub == "anonymous@198.51.100.7" && e.actor_role == "anonymous")
    );
}
