//! The report totals beside live writers: writers insert deltas that a background job folds,
//! a rebuild runs while writers write and ends exact, and reports wait (503) for an
//! unfinished rebuild, which any instance's job resumes.

use std::time::Duration;

use chrono::Utc;
use futures_util::future::join_all;
use linkwell_persistence::tallies;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestApp, referral_body};

/// A referral for a person of their own (no NHS number, a name nobody else has).
fn for_someone(i: usize) -> Value {
    let mut body = referral_body(&format!("T-{i}"));
    body["person"]["family_name"] = json!(format!("Writer{i}"));
    body["person"].as_object_mut().unwrap().remove("nhs_number");
    body
}

async fn refer_many(app: &TestApp, practice: Uuid, numbers: std::ops::Range<usize>) {
    let referrer = app.referrer(practice);
    let creates = numbers.map(|i| {
        let (app, referrer) = (app, referrer.clone());
        async move {
            let reply = app.refer(&referrer, &for_someone(i)).await;
            assert_eq!(reply.status, 201, "{}", reply.text);
        }
    });
    join_all(creates).await;
}

fn today() -> String {
    let today = Utc::now().date_naive();
    format!("from={today}&to={today}")
}

async fn received(app: &TestApp) -> (u16, Value) {
    let reply = app
        .get(&format!("/v1/reports/activity?{}", today()), &app.admin())
        .await;
    (reply.status.as_u16(), reply.body)
}

/// What the totals say now, and each person's event days.
type Kept = (
    Vec<(linkwell_domain::tally::Key, linkwell_domain::tally::Amount)>,
    Vec<(String, linkwell_domain::tally::Event, i64)>,
);

fn kept(conn: &mut linkwell_persistence::DbConnection) -> Kept {
    (
        tallies::stored(conn).unwrap(),
        tallies::stored_event_days(conn).unwrap(),
    )
}

#[tokio::test]
async fn rebuilds_beside_live_writers_end_exact_and_keep_no_writer_waiting() {
    // Writers give up after a second: a rebuild holding them longer would fail creates.
    let app = TestApp::spawn_with(|c| c.pool.lock_timeout = Duration::from_secs(1)).await;
    let practice = app.organisation("Practice", "gp_practice").await;
    refer_many(&app, practice, 0..20).await;

    // Rebuilds of two people a batch, over and over, while 60 creates arrive.
    let mut conn = app.db();
    let rebuilds = tokio::task::spawn_blocking(move || {
        let mut made = 0;
        for _ in 0..6 {
            tallies::rebuild_in_batches(&mut conn, 2).unwrap();
            made += 1;
        }
        made
    });
    let (rebuilt, ()) = tokio::join!(rebuilds, refer_many(&app, practice, 20..80));
    assert_eq!(rebuilt.unwrap(), 6);

    let mut conn = app.db();
    let running = kept(&mut conn);
    assert!(!running.0.is_empty() && !running.1.is_empty());
    tallies::rebuild(&mut conn).unwrap();
    assert_eq!(kept(&mut conn), running);
    let (status, report) = received(&app).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["referrals_received"], 80);
    assert_eq!(report["people_referred"], 80);
}

#[tokio::test]
async fn reports_wait_for_an_unfinished_rebuild_and_any_rebuild_finishes_it() {
    // The job folds once at start and then not for an hour: this test drives the rebuild.
    let app = TestApp::spawn_with(|c| c.totals_fold_every = Duration::from_secs(3600)).await;
    let practice = app.organisation("Practice", "gp_practice").await;
    refer_many(&app, practice, 0..10).await;
    let (status, before) = received(&app).await;
    assert_eq!((status, &before["referrals_received"]), (200, &json!(10)));
    let mut conn = app.db();
    let running = kept(&mut conn);

    // As a rebuild leaves things when its process stops after emptying the totals.
    tallies::start_rebuild(&mut conn).unwrap();
    assert!(tallies::rebuilding(&mut conn).unwrap());
    let refused = app
        .get(&format!("/v1/reports/activity?{}", today()), &app.admin())
        .await;
    refused.problem(503, "service_unavailable");
    assert_eq!(refused.header("retry-after"), Some("5"));
    // Writers go on meanwhile, and the rebuild counts them.
    refer_many(&app, practice, 10..12).await;
    tallies::rebuild(&mut conn).unwrap();
    assert!(!tallies::rebuilding(&mut conn).unwrap());
    let (status, after) = received(&app).await;
    assert_eq!((status, &after["referrals_received"]), (200, &json!(12)));
    tallies::fold(&mut conn).unwrap();
    let folded = kept(&mut conn);
    assert_eq!(
        folded.0.len(),
        running.0.len(),
        "same keys, two more referrals"
    );
}

#[tokio::test]
async fn the_job_resumes_a_rebuild_left_unfinished_and_folds_the_deltas() {
    let app = TestApp::spawn_with(|c| c.totals_fold_every = Duration::from_millis(50)).await;
    let practice = app.organisation("Practice", "gp_practice").await;
    refer_many(&app, practice, 0..10).await;
    let mut conn = app.db();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while tallies::unfolded(&mut conn).unwrap() > 0 {
        assert!(std::time::Instant::now() < deadline, "deltas never folded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let running = kept(&mut conn);

    tallies::start_rebuild(&mut conn).unwrap();
    while tallies::rebuilding(&mut conn).unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "the rebuild was never resumed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(kept(&mut conn), running);
    let (status, report) = received(&app).await;
    assert_eq!((status, &report["referrals_received"]), (200, &json!(10)));
}
