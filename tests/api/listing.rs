//! Listing referrals: newest first, keyset pages, filters.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{Reply, TestApp, referral_body};

fn ids(reply: &Reply) -> Vec<String> {
    reply.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", reply.text))
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn pages_walk_every_referral_once_while_others_arrive() {
    let app = TestApp::spawn().await;
    let token = app.coordinator();
    let mut created = Vec::new();
    for i in 0..23 {
        created.push(
            app.refer(&token, &referral_body(&format!("P-{i}")))
                .await
                .id()
                .to_string(),
        );
    }
    created.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/referrals?limit=5&cursor={c}"),
            None => "/v1/referrals?limit=5".to_owned(),
        };
        let page = app.get(&path, &token).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        seen.extend(ids(&page));
        pages += 1;
        // Newer referrals arriving mid-walk neither shift nor repeat later pages.
        app.refer(&token, &referral_body(&format!("NEW-{pages}")))
            .await;
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 5);
    assert_eq!(seen, created);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 23);
}

#[tokio::test]
async fn the_default_page_is_fifty() {
    let app = TestApp::spawn().await;
    let token = app.coordinator();
    for i in 0..51 {
        app.refer(&token, &referral_body(&format!("D-{i}"))).await;
    }
    let page = app.get("/v1/referrals", &token).await;
    assert_eq!(ids(&page).len(), 50);
    assert!(page.body["next_cursor"].is_string());
    let full = app.get("/v1/referrals?limit=100", &token).await;
    assert_eq!(ids(&full).len(), 51);
    assert_eq!(full.body["next_cursor"], json!(null));
}

#[tokio::test]
async fn filters_combine() {
    let app = TestApp::spawn().await;
    let token = app.coordinator();
    let mut housing = referral_body("F-1");
    housing["reasons"] = json!(["housing"]);
    housing["source"] = json!("other_agency");
    let housing = app.refer(&token, &housing).await;
    let lonely = app.refer(&token, &referral_body("F-2")).await;
    let mut both = referral_body("F-3");
    both["reasons"] = json!(["housing", "loneliness"]);
    let both = app.refer(&token, &both).await;
    let id = |r: &Reply| r.body["id"].as_str().unwrap().to_owned();

    let q = |query: &str| format!("/v1/referrals?{query}");
    assert_eq!(
        ids(&app.get(&q("reason=housing"), &token).await),
        [id(&both), id(&housing)]
    );
    assert_eq!(
        ids(&app.get(&q("reason=loneliness"), &token).await),
        [id(&both), id(&lonely)]
    );
    assert_eq!(
        ids(&app.get(&q("source=other_agency"), &token).await),
        [id(&housing)]
    );
    assert_eq!(
        ids(&app
            .get(&q("source=gp_practice&reason=housing"), &token)
            .await),
        [id(&both)]
    );
    assert_eq!(
        ids(&app.get(&q("status=received&limit=10"), &token).await).len(),
        3
    );
    assert_eq!(ids(&app.get(&q("status=accepted"), &token).await).len(), 0);

    let today = chrono::Utc::now().date_naive();
    let from_today = q(&format!("received_from={today}"));
    assert_eq!(ids(&app.get(&from_today, &token).await).len(), 3);
    let to_yesterday = q(&format!("received_to={}", today.pred_opt().unwrap()));
    assert_eq!(ids(&app.get(&to_yesterday, &token).await).len(), 0);
    // Time bounds are inclusive at both ends.
    let at = lonely.body["received_at"].as_str().unwrap();
    let up_to = app.get(&q(&format!("received_to={at}")), &token).await;
    assert_eq!(ids(&up_to), [id(&lonely), id(&housing)]);
    let from = app.get(&q(&format!("received_from={at}")), &token).await;
    assert_eq!(ids(&from), [id(&both), id(&lonely)]);
    // Far-off bounds behave the same on both backends.
    assert_eq!(
        ids(&app.get(&q("received_to=9999-12-31"), &token).await).len(),
        3
    );
    let late = app
        .get(&q("received_from=9999-12-31T23:59:59-23:59"), &token)
        .await;
    assert_eq!(ids(&late).len(), 0);
    let early = app
        .get(&q("received_from=0000-01-01T00:00:00%2B23:59"), &token)
        .await;
    assert_eq!(ids(&early).len(), 3);
    app.get(
        &q(&format!(
            "received_from={today}&received_to={}",
            today.pred_opt().unwrap()
        )),
        &token,
    )
    .await
    .problem(400, "invalid_parameter");
}

#[tokio::test]
async fn a_tampered_or_foreign_cursor_is_400() {
    let app = TestApp::spawn().await;
    let token = app.coordinator();
    for i in 0..3 {
        app.refer(&token, &referral_body(&format!("C-{i}"))).await;
    }
    let page = app.get("/v1/referrals?limit=1", &token).await;
    let cursor = page.body["next_cursor"].as_str().unwrap().to_owned();
    let (payload, tag) = cursor.split_once('.').unwrap();
    let mut flipped = payload.to_owned().into_bytes();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{}.{tag}", String::from_utf8(flipped).unwrap());
    for bad in [tampered.as_str(), "x", "x.y", &cursor[..cursor.len() - 2]] {
        let reply = app
            .get(&format!("/v1/referrals?limit=1&cursor={bad}"), &token)
            .await;
        reply.problem(400, "invalid_parameter");
        assert_eq!(
            reply.field_errors(),
            [("cursor".into(), "invalid_cursor".into())]
        );
    }
    let other_filter = app
        .get(
            &format!("/v1/referrals?limit=1&status=received&cursor={cursor}"),
            &token,
        )
        .await;
    other_filter.problem(400, "invalid_parameter");
    let good = app
        .get(&format!("/v1/referrals?limit=1&cursor={cursor}"), &token)
        .await;
    assert_eq!(good.status, StatusCode::OK);
}
