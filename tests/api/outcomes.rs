//! Outcome measures: scored by the server, one baseline per instrument, and the change from
//! baseline to the latest later measurement with a list.

use chrono::{Duration, SecondsFormat, Utc};
use linkwell_domain::Role;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Reply, TestApp, referral_body};

fn at(offset: Duration) -> String {
    (Utc::now() + offset).to_rfc3339_opts(SecondsFormat::Micros, true)
}

async fn record(app: &TestApp, referral: Uuid, body: &Value) -> Reply {
    app.post(
        &format!("/v1/referrals/{referral}/outcomes"),
        &app.coordinator(),
        body,
    )
    .await
}

#[tokio::test]
async fn swemwbs_is_scored_by_the_table_and_compared_with_its_baseline() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let referral = app.accepted(org, "O-1").await;
    let baseline = record(
        &app,
        referral,
        &json!({"instrument": "swemwbs", "timepoint": "baseline", "recorded_at": at(Duration::zero()),
                "answers": [3, 3, 3, 3, 3, 3, 3]}),
    )
    .await;
    assert_eq!(baseline.status, 201, "{}", baseline.text);
    let id = baseline.id();
    assert_eq!(
        baseline.header("location"),
        Some(format!("/v1/outcomes/{id}").as_str())
    );
    assert_eq!(
        (
            &baseline.body["raw_score"],
            &baseline.body["metric_score"],
            &baseline.body["items"]
        ),
        (&json!(21), &json!(19.25), &json!(null))
    );
    assert_eq!(baseline.body["scoring_version"], "swemwbs-metric-2008");
    assert_eq!(baseline.body["answers"], json!([3, 3, 3, 3, 3, 3, 3]));

    // No change until a later measurement exists.
    let list = app
        .get(
            &format!("/v1/referrals/{referral}/outcomes"),
            &app.coordinator(),
        )
        .await;
    assert_eq!(list.body["change"], json!({"swemwbs": null, "ons4": null}));

    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let review = record(
        &app,
        referral,
        &json!({"instrument": "swemwbs", "timepoint": "review", "recorded_at": at(Duration::zero()),
                "answers": [4, 3, 3, 3, 3, 3, 3]}),
    )
    .await;
    assert_eq!(review.body["metric_score"], json!(19.98));
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let exit = record(
        &app,
        referral,
        &json!({"instrument": "swemwbs", "timepoint": "exit", "recorded_at": at(Duration::zero()),
                "answers": [5, 5, 4, 4, 3, 3, 3]}),
    )
    .await;
    assert_eq!(
        (&exit.body["raw_score"], &exit.body["metric_score"]),
        (&json!(27), &json!(24.11))
    );
    let list = app
        .get(
            &format!("/v1/referrals/{referral}/outcomes"),
            &app.coordinator(),
        )
        .await;
    let ids: Vec<&Value> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["id"])
        .collect();
    assert_eq!(
        ids,
        [&baseline.body["id"], &review.body["id"], &exit.body["id"]]
    );
    assert_eq!(
        list.body["change"],
        json!({"swemwbs": {"baseline_id": id, "latest_id": exit.body["id"], "baseline_metric_score": 19.25,
                           "latest_metric_score": 24.11, "change": 4.86, "meaningful_improvement": true,
                           "threshold": 3.0},
               "ons4": null})
    );
    let one = app
        .get(&format!("/v1/outcomes/{id}"), &app.coordinator())
        .await;
    assert_eq!(one.body, baseline.body);

    // One baseline per instrument.
    let again = record(
        &app,
        referral,
        &json!({"instrument": "swemwbs", "timepoint": "baseline", "recorded_at": at(Duration::zero()),
                "answers": [1, 1, 1, 1, 1, 1, 1]}),
    )
    .await;
    again.problem(409, "duplicate");
    assert_eq!(again.body["existing_id"], json!(id));
}

#[tokio::test]
async fn ons4_items_are_banded_never_summed() {
    let app = TestApp::spawn_with(|config| config.meaningful_change_hundredths = 500).await;
    let org = app.organisation("Practice", "gp_practice").await;
    let referral = app.accepted(org, "O-2").await;
    let first = record(
        &app,
        referral,
        &json!({"instrument": "ons4", "timepoint": "baseline", "recorded_at": at(Duration::zero()),
                "answers": {"life_satisfaction": 4, "worthwhile": 6, "happiness": 9, "anxiety": 1}}),
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(
        first.body["items"],
        json!({"life_satisfaction": {"score": 4, "band": "low"}, "worthwhile": {"score": 6, "band": "medium"},
               "happiness": {"score": 9, "band": "very_high"}, "anxiety": {"score": 1, "band": "very_low"}})
    );
    assert_eq!(
        (&first.body["raw_score"], &first.body["metric_score"]),
        (&json!(null), &json!(null))
    );
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let later = record(
        &app,
        referral,
        &json!({"instrument": "ons4", "timepoint": "exit", "recorded_at": at(Duration::zero()),
                "answers": {"life_satisfaction": 7, "worthwhile": 6, "happiness": 5, "anxiety": 6}}),
    )
    .await;
    assert_eq!(
        later.body["items"]["anxiety"],
        json!({"score": 6, "band": "high"})
    );
    // A SWEMWBS baseline and review 2.29 points apart: not meaningful at a threshold of 5.
    for (timepoint, answers) in [
        ("baseline", json!([3, 3, 3, 3, 3, 3, 3])),
        ("review", json!([4, 4, 4, 3, 3, 3, 3])),
    ] {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let reply = record(
            &app,
            referral,
            &json!({"instrument": "swemwbs", "timepoint": timepoint, "recorded_at": at(Duration::zero()), "answers": answers}),
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
    }
    let list = app
        .get(
            &format!("/v1/referrals/{referral}/outcomes?limit=1"),
            &app.coordinator(),
        )
        .await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        list.body["change"]["ons4"],
        json!({"baseline_id": first.body["id"], "latest_id": later.body["id"],
               "change": {"life_satisfaction": 3, "worthwhile": 0, "happiness": -4, "anxiety": 5}})
    );
    assert_eq!(list.body["change"]["swemwbs"]["change"], json!(2.29));
    assert_eq!(
        list.body["change"]["swemwbs"]["meaningful_improvement"],
        json!(false)
    );
    assert_eq!(list.body["change"]["swemwbs"]["threshold"], json!(5.0));
}

#[tokio::test]
async fn answers_are_checked_item_by_item() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let referral = app.accepted(org, "O-3").await;
    let now = at(Duration::zero());
    let cases = [
        (
            json!({"instrument": "swemwbs", "answers": [3, 3, 3, 3, 3, 3]}),
            "/answers",
            "item_count",
        ),
        (
            json!({"instrument": "swemwbs", "answers": [3, 3, 3, 6, 3, 3, 3]}),
            "/answers/3",
            "out_of_range",
        ),
        (
            json!({"instrument": "swemwbs", "answers": [3, 3, "3", 3, 3, 3, 3]}),
            "/answers/2",
            "invalid_type",
        ),
        (
            json!({"instrument": "swemwbs", "answers": {"life_satisfaction": 1}}),
            "/answers",
            "invalid_type",
        ),
        (
            json!({"instrument": "ons4", "answers": {"life_satisfaction": 1, "worthwhile": 1, "happiness": 1}}),
            "/answers/anxiety",
            "required",
        ),
        (
            json!({"instrument": "ons4", "answers": {"life_satisfaction": 11, "worthwhile": 1, "happiness": 1, "anxiety": 1}}),
            "/answers/life_satisfaction",
            "out_of_range",
        ),
        (
            json!({"instrument": "ons4", "answers": {"life_satisfaction": 1, "worthwhile": 1, "happiness": 1, "anxiety": 1, "mood": 2}}),
            "/answers/mood",
            "unknown_field",
        ),
        (
            json!({"instrument": "ons4", "answers": [1, 2, 3, 4]}),
            "/answers",
            "invalid_type",
        ),
        (
            json!({"instrument": "wemwbs", "answers": [1]}),
            "/instrument",
            "unknown_code",
        ),
    ];
    for (mut body, pointer, code) in cases {
        body["timepoint"] = json!("review");
        body["recorded_at"] = json!(now);
        let reply = record(&app, referral, &body).await;
        reply.problem(422, "validation_failed");
        assert_eq!(
            reply.field_errors(),
            [(pointer.to_owned(), code.to_owned())],
            "{body}"
        );
    }
    for (when, code) in [
        (at(Duration::hours(1)), "in_future"),
        ("2001-01-01T00:00:00Z".to_owned(), "before_received"),
    ] {
        let reply = record(
            &app,
            referral,
            &json!({"instrument": "ons4", "timepoint": "review", "recorded_at": when,
                    "answers": {"life_satisfaction": 1, "worthwhile": 1, "happiness": 1, "anxiety": 1}}),
        )
        .await;
        reply.problem(422, "validation_failed");
        assert_eq!(
            reply.field_errors(),
            [("/recorded_at".to_owned(), code.to_owned())]
        );
    }
    let list = app
        .get(
            &format!("/v1/referrals/{referral}/outcomes"),
            &app.coordinator(),
        )
        .await;
    assert_eq!(list.body["items"], json!([]), "nothing refused was stored");
}

#[tokio::test]
async fn measures_belong_to_engaged_referrals_and_staff() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let received = app
        .refer(&app.referrer(org), &referral_body("O-4"))
        .await
        .id();
    let body = json!({"instrument": "ons4", "timepoint": "baseline", "recorded_at": at(Duration::zero()),
                      "answers": {"life_satisfaction": 5, "worthwhile": 5, "happiness": 5, "anxiety": 5}});
    record(&app, received, &body)
        .await
        .problem(409, "referral_not_engaged");
    record(&app, Uuid::new_v4(), &body)
        .await
        .problem(404, "not_found");
    app.get(
        &format!("/v1/referrals/{}/outcomes", Uuid::new_v4()),
        &app.coordinator(),
    )
    .await
    .problem(404, "not_found");
    app.get(
        &format!("/v1/outcomes/{}", Uuid::new_v4()),
        &app.coordinator(),
    )
    .await
    .problem(404, "not_found");
    for role in [Role::Referrer, Role::Partner, Role::Commissioner] {
        let token = app.member(role).await;
        app.post(&format!("/v1/referrals/{received}/outcomes"), &token, &body)
            .await
            .problem(403, "forbidden");
        app.get(&format!("/v1/referrals/{received}/outcomes"), &token)
            .await
            .problem(403, "forbidden");
    }
}
