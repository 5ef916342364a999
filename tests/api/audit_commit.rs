//! Reads hand their audit rows to one writer that commits many requests' rows at once; a
//! response waits for its rows, so nothing is disclosed without its row on the trail.

use std::collections::HashSet;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use futures_util::future::join_all;
use linkwell_persistence::audit::{self, AuditEvent, AuditFilter};
use reqwest::Method;
use uuid::Uuid;

use crate::support::{Reply, TestApp, backend, referral_body};

/// GET `path` with `request_id` as its `X-Request-Id`.
async fn read_as(app: &TestApp, path: &str, token: &str, request_id: &str) -> Reply {
    let header = [("x-request-id", request_id)];
    app.send(Method::GET, path, token, None, &header).await
}

/// The trail's `referral.read` rows for referral `id`, newest first.
fn reads_of(app: &TestApp, id: Uuid) -> Vec<AuditEvent> {
    let filter = AuditFilter {
        referral_id: Some(id),
        action: Some("referral.read".into()),
        ..AuditFilter::default()
    };
    audit::list(&mut app.db(), &filter, None, 1000).unwrap()
}

#[tokio::test]
async fn a_read_whose_row_cannot_commit_discloses_nothing() {
    let app = TestApp::spawn_with(|c| c.pool.lock_timeout = Duration::from_millis(300)).await;
    let coordinator = app.coordinator();
    let id = app.refer(&coordinator, &referral_body("AC-1")).await.id();
    let path = format!("/v1/referrals/{id}");
    let mut holder = app.db();
    // Another transaction keeps the trail from taking rows: a table lock on PostgreSQL,
    // SQLite's one write lock.
    if backend() == "postgres" {
        holder
            .batch_execute("BEGIN; LOCK TABLE audit_events IN EXCLUSIVE MODE;")
            .unwrap();
    } else {
        holder.batch_execute("BEGIN IMMEDIATE;").unwrap();
    }
    let refused = read_as(&app, &path, &coordinator, "blocked-read").await;
    refused.problem(503, "service_unavailable");
    assert!(refused.header("etag").is_none());
    assert!(!refused.text.contains("AC-1"), "{}", refused.text);
    holder.batch_execute("ROLLBACK;").unwrap();

    let read = read_as(&app, &path, &coordinator, "later-read").await;
    assert_eq!(read.status, 200, "{}", read.text);
    let rows = reads_of(&app, id);
    let ids: Vec<&str> = rows.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids, ["later-read"]);
}

#[tokio::test]
async fn concurrent_reads_each_commit_their_own_row() {
    let app = TestApp::spawn().await;
    let coordinator = app.coordinator();
    let id = app.refer(&coordinator, &referral_body("AC-2")).await.id();
    let path = format!("/v1/referrals/{id}");
    let sent: Vec<String> = (0..64).map(|i| format!("read-{i}")).collect();
    let replies = join_all(
        sent.iter()
            .map(|request_id| read_as(&app, &path, &coordinator, request_id)),
    )
    .await;
    for reply in &replies {
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    let rows = reads_of(&app, id);
    assert_eq!(rows.len(), sent.len());
    let recorded: HashSet<&str> = rows.iter().map(|r| r.request_id.as_str()).collect();
    let expected: HashSet<&str> = sent.iter().map(String::as_str).collect();
    assert_eq!(recorded, expected);
    assert!(
        rows.iter()
            .all(|r| r.outcome == "success" && r.person_id.is_some())
    );
}
