//! The second level of needs: served at `/v1/needs`, usable wherever reasons are (a
//! referral's reasons, a service's needs, the directory search), rolling up to the first level
//! in reports.

use chrono::Utc;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestApp, referral_body};

fn codes(value: &Value, member: &str) -> Vec<String> {
    value["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[member].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn specific_needs_are_listed_given_as_reasons_searched_and_rolled_up() {
    let app = TestApp::spawn().await;
    let staff = app.coordinator();

    // The vocabulary, open to anyone.
    let all = app.call(Method::GET, "/v1/needs", None, None).await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(all.body["items"].as_array().unwrap().len(), 25);
    assert_eq!(
        all.body["items"][0],
        json!({"code": "counselling", "reason": "emotional_wellbeing",
               "description": "Talking therapies and counselling"})
    );
    let money = app
        .call(
            Method::GET,
            "/v1/needs?reason=money_and_benefits",
            None,
            None,
        )
        .await;
    assert_eq!(
        codes(&money.body, "code"),
        [
            "debt_advice",
            "benefits_advice",
            "energy_and_bills",
            "food_support"
        ]
    );
    app.call(Method::GET, "/v1/needs?reason=debt_advice", None, None)
        .await
        .problem(400, "invalid_parameter");

    // A referral's reasons take specific needs; each brings its reason.
    let practice = app.organisation("The Surgery", "gp_practice").await;
    let mut body = referral_body("N-1");
    body["reasons"] = json!(["debt_advice", "loneliness"]);
    let sent = app.refer(&app.referrer(practice), &body).await;
    assert_eq!(sent.status, 201, "{}", sent.text);
    assert_eq!(
        sent.body["reasons"],
        json!(["loneliness", "money_and_benefits"])
    );
    assert_eq!(sent.body["specific_needs"], json!(["debt_advice"]));
    let id = sent.id();
    let read = app.get(&format!("/v1/referrals/{id}"), &staff).await;
    assert_eq!(read.body["specific_needs"], json!(["debt_advice"]));
    let changed = app
        .change(
            Method::PATCH,
            &format!("/v1/referrals/{id}"),
            &staff,
            1,
            Some(&json!({"reasons": ["befriending", "money_and_benefits"]})),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(
        changed.body["reasons"],
        json!(["loneliness", "money_and_benefits"])
    );
    assert_eq!(changed.body["specific_needs"], json!(["befriending"]));
    for (reasons, code) in [
        (json!(["debt_advice", "debt_advice"]), "duplicate"),
        (json!(["diagnosis"]), "unknown_code"),
        (json!([]), "empty"),
    ] {
        let mut bad = referral_body("N-2");
        bad["reasons"] = reasons.clone();
        let refused = app.refer(&app.referrer(practice), &bad).await;
        assert_eq!(
            refused.field_errors(),
            [("/reasons".to_owned(), code.to_owned())],
            "{reasons}"
        );
    }

    // A service's needs take them too; a search by a reason finds its specific needs' services.
    let service = |name: &str, needs: Value| {
        let app = &app;
        let body = json!({"name": name, "description": "Help.", "needs": needs,
                          "accepts_referrals": false});
        async move {
            let made = app
                .post("/v1/directory/services", &app.coordinator(), &body)
                .await;
            assert_eq!(made.status, 201, "{}", made.text);
            made.body
        }
    };
    let debt = service("Debt clinic", json!(["debt_advice"])).await;
    assert_eq!(debt["needs"], json!(["money_and_benefits"]));
    assert_eq!(debt["specific_needs"], json!(["debt_advice"]));
    service("Money matters", json!(["money_and_benefits"])).await;
    service("Food pantry", json!(["food_support", "social_groups"])).await;
    let search = |need: &str| {
        let app = &app;
        let path = format!("/v1/directory/services?need={need}");
        async move {
            let reply = app.call(Method::GET, &path, None, None).await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            codes(&reply.body, "name")
        }
    };
    assert_eq!(search("debt_advice").await, ["Debt clinic"]);
    assert_eq!(
        search("money_and_benefits").await,
        ["Debt clinic", "Money matters", "Food pantry"]
    );
    assert_eq!(search("loneliness").await, ["Food pantry"]);
    assert_eq!(search("befriending").await, Vec::<String>::new());

    // Reports count reasons: the specific needs roll up.
    let today = Utc::now().date_naive();
    let report = app
        .get(
            &format!("/v1/reports/activity?from={today}&to={today}"),
            &app.admin(),
        )
        .await;
    assert_eq!(report.status, 200, "{}", report.text);
    assert_eq!(report.body["by_reason"]["money_and_benefits"], 1);
    assert_eq!(report.body["by_reason"]["loneliness"], 1);
    assert!(report.body["by_reason"].get("debt_advice").is_none());
}
