//! The change feed GP systems poll: every page carries a cursor, and no change is ever passed
//! over, even when concurrent transactions commit out of order.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Reply, TestApp, backend, referral_body};

const SINCE: &str = "updated_since=2000-01-01";

async fn poll(app: &TestApp, token: &str, cursor: Option<&str>, limit: u32) -> Reply {
    let cursor = cursor.map(|c| format!("&cursor={c}")).unwrap_or_default();
    let reply = app
        .get(
            &format!("/v1/referrals?{SINCE}&limit={limit}{cursor}"),
            token,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply
}

fn cursor(reply: &Reply) -> String {
    reply.body["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("every feed page has a cursor: {}", reply.text))
        .to_owned()
}

fn items(reply: &Reply) -> Vec<(String, i64, String)> {
    reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_owned(),
                i["version"].as_i64().unwrap(),
                i["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_referrer_polls_its_changes_oldest_first_with_a_cursor_on_every_page() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let other = app.organisation("Other", "gp_practice").await;
    let gp = app.referrer(org);
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(app.refer(&gp, &referral_body(&format!("F-{n}"))).await.id());
    }
    app.refer(&app.referrer(other), &referral_body("OTHER-1"))
        .await;

    let first = poll(&app, &gp, None, 2).await;
    let seen: Vec<String> = items(&first).into_iter().map(|i| i.0).collect();
    assert_eq!(seen, [ids[0].to_string(), ids[1].to_string()]);
    let second = poll(&app, &gp, Some(&cursor(&first)), 2).await;
    assert_eq!(items(&second).len(), 1, "{}", second.text);
    assert_eq!(items(&second)[0].0, ids[2].to_string());
    let caught_up = poll(&app, &gp, Some(&cursor(&second)), 2).await;
    assert_eq!(items(&caught_up), []);
    let again = poll(&app, &gp, Some(&cursor(&caught_up)), 2).await;
    assert_eq!(items(&again), []);

    // A change after that shows up from the last cursor, at its new version.
    let accepted = app
        .transition(ids[0], &app.coordinator(), 1, &json!({"to": "accepted"}))
        .await;
    assert_eq!(accepted.status, 200);
    let news = poll(&app, &gp, Some(&cursor(&again)), 10).await;
    assert_eq!(
        items(&news),
        [(ids[0].to_string(), 2, "accepted".to_owned())]
    );
    assert_eq!(
        news.body["items"][0]["gp_record_code"]["code"],
        "871731000000106"
    );
    let quiet = poll(&app, &gp, Some(&cursor(&news)), 10).await;
    assert_eq!(items(&quiet), []);

    // A time filter starts later; staff see every organisation's changes.
    let future = app.get("/v1/referrals?updated_since=2999-01-01", &gp).await;
    assert_eq!(items(&future), []);
    assert!(future.body["next_cursor"].is_string());
    let staff = poll(&app, &app.coordinator(), None, 10).await;
    assert_eq!(items(&staff).len(), 4);
    // A cursor belongs to its query.
    app.get(&format!("/v1/referrals?cursor={}", cursor(&quiet)), &gp)
        .await
        .problem(400, "invalid_parameter");
    app.get("/v1/referrals?updated_since=yesterday", &gp)
        .await
        .problem(400, "invalid_parameter");
}

/// Writers create and change referrals while a poller follows the feed. On PostgreSQL a
/// trigger holds each writing transaction open for a random while after it has written, so
/// transactions commit out of the order of their positions: a feed that read past a running
/// transaction would pass over its change for good.
#[tokio::test]
async fn no_change_is_passed_over_by_a_concurrent_poller() {
    let app = TestApp::spawn().await;
    if backend() == "postgres" {
        app.db()
            .batch_execute(
                "CREATE FUNCTION linger() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN PERFORM pg_sleep(random() * 0.04); RETURN NULL; END $$;
                 CREATE TRIGGER linger AFTER INSERT OR UPDATE ON referrals
                 FOR EACH ROW EXECUTE FUNCTION linger();",
            )
            .unwrap();
    }
    let org = app.organisation("Practice", "gp_practice").await;
    let gp = app.referrer(org);
    let coordinator = app.coordinator();
    let done = Arc::new(AtomicBool::new(false));

    let writers = (0..4).map(|w| {
        let (app, gp, coordinator) = (&app, gp.clone(), coordinator.clone());
        async move {
            let mut last = Vec::new();
            for n in 0..6 {
                let created = app.refer(&gp, &referral_body(&format!("W{w}-{n}"))).await;
                assert_eq!(created.status, 201, "{}", created.text);
                let id = created.id();
                let path = format!("/v1/referrals/{id}");
                let mut version = 1;
                for round in 0..2 {
                    let body = json!({"summary": format!("round {round}")});
                    let reply = app
                        .change(Method::PATCH, &path, &coordinator, version, Some(&body))
                        .await;
                    assert_eq!(reply.status, 200, "{}", reply.text);
                    version = reply.body["version"].as_i64().unwrap();
                }
                last.push((id.to_string(), version));
            }
            last
        }
    });
    let poller = {
        let (app, gp, done) = (&app, gp.clone(), done.clone());
        async move {
            let mut seen: HashMap<String, i64> = HashMap::new();
            let mut cursor: Option<String> = None;
            let mut quiet_after_done = 0;
            while quiet_after_done < 2 {
                let finished = done.load(Ordering::SeqCst);
                let page = poll(app, &gp, cursor.as_deref(), 7).await;
                let got = items(&page);
                for (id, version, _) in &got {
                    let entry = seen.entry(id.clone()).or_default();
                    assert!(*version >= *entry, "a referral never goes back in the feed");
                    *entry = *version;
                }
                cursor = Some(self::cursor(&page));
                if finished && got.is_empty() {
                    quiet_after_done += 1;
                }
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            seen
        }
    };
    let writing = async {
        let all = futures_util::future::join_all(writers).await;
        done.store(true, Ordering::SeqCst);
        all
    };
    let (written, seen) = tokio::join!(writing, poller);
    let written: Vec<(String, i64)> = written.into_iter().flatten().collect();
    assert_eq!(written.len(), 24);
    for (id, version) in &written {
        assert_eq!(
            seen.get(id),
            Some(version),
            "the poller saw every referral at its latest change"
        );
    }
    let finals: Value = json!(written.len());
    assert_eq!(json!(seen.len()), finals);
}
