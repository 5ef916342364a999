//! Correcting a mistyped outcome measure (issue 12, item 17): marked entered in error, it is
//! still shown but counts nowhere, and a new baseline may replace it.

use chrono::{SecondsFormat, Utc};
use linkwell_domain::Role;
use linkwell_persistence::tallies;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Reply, TestApp};

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

async fn pause() {
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
}

async fn record(app: &TestApp, referral: Uuid, timepoint: &str, at: &str, answer: i64) -> Reply {
    app.post(
        &format!("/v1/referrals/{referral}/outcomes"),
        &app.coordinator(),
        &json!({"instrument": "swemwbs", "timepoint": timepoint, "recorded_at": at,
                "answers": vec![answer; 7]}),
    )
    .await
}

async fn enter_in_error(
    app: &TestApp,
    token: &str,
    id: Uuid,
    if_match: Option<&str>,
    body: &Value,
) -> Reply {
    let headers: Vec<(&str, &str)> = if_match.map(|v| ("if-match", v)).into_iter().collect();
    app.send(
        Method::POST,
        &format!("/v1/outcomes/{id}/entered-in-error"),
        token,
        Some(body),
        &headers,
    )
    .await
}

/// The SWEMWBS figures of today's report, as an admin sees them.
async fn swemwbs_figures(app: &TestApp) -> Value {
    let today = Utc::now().date_naive();
    let report = app
        .get(
            &format!("/v1/reports/activity?from={today}&to={today}"),
            &app.admin(),
        )
        .await;
    assert_eq!(report.status, 200, "{}", report.text);
    report.body["wellbeing"]["swemwbs"].clone()
}

fn assert_totals_match_the_records(app: &TestApp) {
    let mut conn = app.db();
    let kept = tallies::stored(&mut conn).unwrap();
    tallies::rebuild(&mut conn).unwrap();
    assert_eq!(tallies::stored(&mut conn).unwrap(), kept);
}

#[tokio::test]
async fn a_measure_entered_in_error_counts_nowhere_and_a_new_baseline_replaces_it() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let referral = app.accepted(org, "E-1").await;
    let staff = app.coordinator();
    let first_at = now();
    let wrong = record(&app, referral, "baseline", &first_at, 2).await;
    assert_eq!(wrong.status, 201, "{}", wrong.text);
    assert_eq!(wrong.header("etag"), Some("\"1\""));
    let wrong = wrong.id();
    pause().await;
    let exit = record(&app, referral, "exit", &now(), 4).await;
    assert_eq!(exit.status, 201, "{}", exit.text);
    let exit = exit.id();
    // Baseline raw 14 (15.32), exit raw 28 (25.03).
    assert_eq!(
        swemwbs_figures(&app).await,
        json!({"people": 1, "pairs": 1, "mean_change": 9.71, "meaningful_improvement": 1})
    );

    let read = app.get(&format!("/v1/outcomes/{wrong}"), &staff).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.header("etag"), Some("\"1\""));
    assert_eq!(read.body["status"], "recorded");
    assert_eq!(read.body["entered_in_error"], Value::Null);
    assert_eq!(read.body["version"], 1);

    let reason = json!({"reason": "Typed against the wrong person"});
    // Staff only; If-Match required and current; a reason required.
    let commissioner = app.token(Role::Commissioner, None);
    enter_in_error(&app, &commissioner, wrong, Some("\"1\""), &reason)
        .await
        .problem(403, "forbidden");
    enter_in_error(&app, &app.referrer(org), wrong, Some("\"1\""), &reason)
        .await
        .problem(403, "forbidden");
    enter_in_error(&app, &staff, wrong, None, &reason)
        .await
        .problem(428, "precondition_required");
    enter_in_error(&app, &staff, wrong, Some("\"2\""), &reason)
        .await
        .problem(412, "precondition_failed");
    let missing = enter_in_error(&app, &staff, wrong, Some("\"1\""), &json!({})).await;
    missing.problem(422, "validation_failed");
    assert_eq!(
        missing.field_errors(),
        [("/reason".to_owned(), "required".to_owned())]
    );
    enter_in_error(&app, &staff, Uuid::now_v7(), Some("\"1\""), &reason)
        .await
        .problem(404, "not_found");

    let marked = enter_in_error(&app, &staff, wrong, Some("\"1\""), &reason).await;
    assert_eq!(marked.status, 200, "{}", marked.text);
    assert_eq!(marked.header("etag"), Some("\"2\""));
    let b = &marked.body;
    assert_eq!(b["id"], json!(wrong));
    assert_eq!(b["status"], "entered_in_error");
    assert_eq!(b["version"], 2);
    assert_eq!(b["raw_score"], 14, "the measure itself is kept as recorded");
    assert_eq!(
        b["entered_in_error"]["reason"],
        "Typed against the wrong person"
    );
    assert_eq!(b["entered_in_error"]["by"], "coordinator-user");
    assert!(b["entered_in_error"]["at"].as_str().unwrap().ends_with('Z'));

    // Shown on reads with its status, reason, who and when.
    let read = app.get(&format!("/v1/outcomes/{wrong}"), &staff).await;
    assert_eq!(read.header("etag"), Some("\"2\""));
    assert_eq!(read.body, marked.body);
    let list = app
        .get(&format!("/v1/referrals/{referral}/outcomes"), &staff)
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["items"][0], marked.body);
    assert_eq!(list.body["items"][1]["status"], "recorded");
    // Counted nowhere: no change from a baseline entered in error, nothing in the report.
    assert_eq!(list.body["change"], json!({"swemwbs": null, "ons4": null}));
    assert_eq!(
        swemwbs_figures(&app).await,
        json!({"people": 0, "pairs": 0, "mean_change": null, "meaningful_improvement": 0})
    );
    assert_totals_match_the_records(&app);

    // Once only.
    enter_in_error(&app, &staff, wrong, Some("\"2\""), &reason)
        .await
        .problem(409, "already_entered_in_error");

    // A new baseline replaces it, taken when the wrong one was.
    let right = record(&app, referral, "baseline", &first_at, 3).await;
    assert_eq!(right.status, 201, "{}", right.text);
    let right = right.id();
    let list = app
        .get(&format!("/v1/referrals/{referral}/outcomes"), &staff)
        .await;
    assert_eq!(list.body["change"]["swemwbs"]["baseline_id"], json!(right));
    assert_eq!(list.body["change"]["swemwbs"]["latest_id"], json!(exit));
    assert_eq!(list.body["change"]["swemwbs"]["change"], 5.78);
    // Baseline raw 21 (19.25) to 25.03.
    assert_eq!(
        swemwbs_figures(&app).await,
        json!({"people": 1, "pairs": 1, "mean_change": 5.78, "meaningful_improvement": 1})
    );
    // Still one baseline that counts.
    record(&app, referral, "baseline", &first_at, 3)
        .await
        .problem(409, "duplicate");
    assert_totals_match_the_records(&app);

    // The latest measurement entered in error leaves no change either.
    let marked = enter_in_error(&app, &app.admin(), exit, Some("\"1\""), &reason).await;
    assert_eq!(marked.status, 200, "{}", marked.text);
    let list = app
        .get(&format!("/v1/referrals/{referral}/outcomes"), &staff)
        .await;
    assert_eq!(list.body["change"], json!({"swemwbs": null, "ons4": null}));
    assert_eq!(swemwbs_figures(&app).await["pairs"], 0);
    assert_totals_match_the_records(&app);
}
