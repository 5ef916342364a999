//! Content negotiation of the activity report (issue 12, item 7): `Accept` with q-values.

use linkwell_domain::Role;
use reqwest::Method;

use crate::support::TestApp;

const PERIOD: &str = "/v1/reports/activity?from=2026-01-01&to=2026-01-31";

/// The status and `Content-Type` of the report asked for with `accept` (none when `None`).
async fn ask(app: &TestApp, token: &str, accept: Option<&str>) -> crate::support::Reply {
    let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
    app.send(Method::GET, PERIOD, token, None, &headers).await
}

#[tokio::test]
async fn the_activity_report_honours_accept_q_values() {
    let app = TestApp::spawn().await;
    let token = app.token(Role::Commissioner, None);
    let json = "application/json";
    let csv = "text/csv; charset=utf-8";
    for (accept, expected) in [
        (None, json),
        (Some(""), json),
        (Some("*/*"), json),
        (Some("application/json"), json),
        (Some("text/csv;q=0, application/json"), json),
        (Some("text/csv; q=0 , application/json;q=0.1"), json),
        (Some("text/csv;q=0.5, application/json"), json),
        (Some("text/csv, application/json;q=0.9"), csv),
        (Some("text/csv"), csv),
        (Some("TEXT/CSV"), csv),
        (Some("text/*"), csv),
        (Some("text/csv, */*;q=0.1"), csv),
        (Some("application/json;q=0, */*"), csv),
        (Some("application/*;q=0.2, text/csv;q=0.3"), csv),
        (Some("text/csv, application/json"), json),
        (Some("text/html, */*;q=0.8"), json),
    ] {
        let reply = ask(&app, &token, accept).await;
        assert_eq!(reply.status, 200, "{accept:?}: {}", reply.text);
        assert_eq!(
            reply.header("content-type"),
            Some(expected),
            "{accept:?}: {}",
            reply.text
        );
    }
    for accept in [
        "text/csv;q=0",
        "text/csv;q=0, application/json;q=0",
        "text/html",
        "application/xml, text/plain;q=0.5",
        "*/*;q=0",
        "text/csv;q=0.000, application/*;q=0",
        "image/png, text/csv;q=0",
    ] {
        let reply = ask(&app, &token, Some(accept)).await;
        let problem = reply.problem(406, "not_acceptable");
        assert_eq!(problem["status"], 406, "{accept}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("application/json, text/csv"),
            "{accept}: {problem}"
        );
    }
}
