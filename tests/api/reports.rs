//! Reports on a small hand-built data set, checked figure by figure: exact for admins,
//! suppressed (1–7) or rounded for commissioners, the same figures as CSV, and the caseload report.

use chrono::{Duration, SecondsFormat, Utc};
use linkwell_domain::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestApp, referral_body};

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn person(body: &mut Value, given: &str, nhs: Option<&str>) {
    body["person"]["given_name"] = json!(given);
    match nhs {
        Some(n) => body["person"]["nhs_number"] = json!(n),
        None => {
            body["person"].as_object_mut().unwrap().remove("nhs_number");
        }
    }
}

struct Data {
    practice_a: Uuid,
    partner_1: Uuid,
    partner_2: Uuid,
}

/// Four referrals today (three people), three sessions, three connections, two pairs of
/// measures: the figures every test below expects.
async fn build(app: &TestApp) -> Data {
    let staff = app.coordinator();
    let practice_a = app.organisation("Practice A", "gp_practice").await;
    let practice_b = app.organisation("Practice B", "gp_practice").await;
    let partner_1 = app.organisation("Advice", "partner").await;
    let partner_2 = app.organisation("Housing", "agency").await;

    // R1 (A, Sam): accepted, sessions, connections, measures.
    let r1 = app.accepted(practice_a, "R-1").await;
    // R2 (A, another person): declined.
    let mut body = referral_body("R-2");
    person(&mut body, "Alex", Some("9434765919"));
    body["reasons"] = json!(["housing"]);
    let r2 = app.refer(&app.referrer(practice_a), &body).await.id();
    let reply = app
        .transition(
            r2,
            &staff,
            1,
            &json!({"to": "declined", "reason": "Not now"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    // R3 (B, Sam again): accepted, then declined — still counts as accepted.
    let r3 = app
        .refer(&app.referrer(practice_b), &referral_body("R-3"))
        .await
        .id();
    app.transition(r3, &staff, 1, &json!({"to": "accepted"}))
        .await;
    let reply = app
        .transition(
            r3,
            &staff,
            2,
            &json!({"to": "declined", "reason": "Changed mind"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    // R4 (staff-entered, community, a third person): closed.
    let mut body = referral_body("R-4");
    person(&mut body, "Jo", None);
    body["person"]["family_name"] = json!("Bloggs");
    body["source"] = json!("community");
    body["reasons"] = json!(["loneliness"]);
    body.as_object_mut().unwrap().remove("external_reference");
    let r4 = app.refer(&staff, &body).await.id();
    let reply = app
        .transition(
            r4,
            &staff,
            1,
            &json!({"to": "closed", "reason_code": "no_longer_wanted", "reason": "Moved on"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    let sessions = format!("/v1/referrals/{r1}/sessions");
    for body in [
        json!({"kind": "coaching", "mode": "face_to_face", "scheduled_at": now(), "status": "attended", "duration_minutes": 50}),
        json!({"kind": "conversation", "mode": "phone", "scheduled_at": now(), "status": "attended", "duration_minutes": 20}),
        json!({"kind": "coaching", "mode": "video", "scheduled_at": (Utc::now() + Duration::days(2)).to_rfc3339()}),
    ] {
        let reply = app.post(&sessions, &staff, &body).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
    }

    let walks = app
        .post(
            "/v1/directory/services",
            &app.admin(),
            &json!({"name": "Walks", "description": "x",
              "needs": ["healthy_lifestyle"], "accepts_referrals": false}),
        )
        .await
        .id();
    let connect = |body: Value| {
        let (app, staff) = (app, staff.clone());
        async move {
            let reply = app
                .post(&format!("/v1/referrals/{r1}/connections"), &staff, &body)
                .await;
            assert_eq!(reply.status, 201, "{}", reply.text);
            reply.id()
        }
    };
    let common =
        json!({"need": "money_and_benefits", "consent_to_share": true, "shared_fields": []});
    let with = |extra: Value| {
        let mut b = common.clone();
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let done = connect(with(json!({"organisation_id": partner_1}))).await;
    connect(with(json!({"organisation_id": partner_2}))).await;
    connect(with(json!({"service_id": walks}))).await;
    let partner = app.token(Role::Partner, Some(partner_1));
    for (version, body) in [
        (1, json!({"to": "accepted"})),
        (2, json!({"to": "in_progress"})),
        (3, json!({"to": "completed", "outcome": "got_help"})),
    ] {
        let path = format!("/v1/connections/{done}/transitions");
        let reply = app
            .change(Method::POST, &path, &partner, version, Some(&body))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }

    let outcomes = format!("/v1/referrals/{r1}/outcomes");
    for body in [
        json!({"instrument": "swemwbs", "timepoint": "baseline", "answers": [3, 3, 3, 3, 3, 3, 3]}),
        json!({"instrument": "ons4", "timepoint": "baseline",
               "answers": {"life_satisfaction": 4, "worthwhile": 6, "happiness": 9, "anxiety": 1}}),
        json!({"instrument": "swemwbs", "timepoint": "exit", "answers": [5, 5, 4, 4, 3, 3, 3]}),
        json!({"instrument": "ons4", "timepoint": "exit",
               "answers": {"life_satisfaction": 7, "worthwhile": 6, "happiness": 5, "anxiety": 6}}),
    ] {
        let mut body = body;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        body["recorded_at"] = json!(now());
        let reply = app.post(&outcomes, &staff, &body).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
    }
    Data {
        practice_a,
        partner_1,
        partner_2,
    }
}

fn period() -> String {
    let today = Utc::now().date_naive();
    format!("from={today}&to={}", today + Duration::days(30))
}

#[tokio::test]
async fn the_activity_report_adds_up_figure_by_figure() {
    let app = TestApp::spawn().await;
    let data = build(&app).await;
    // A referral entered in error never was: it counts nowhere.
    let mistake = app
        .refer(&app.referrer(data.practice_a), &referral_body("R-5"))
        .await
        .id();
    let reply = app
        .transition(
            mistake,
            &app.coordinator(),
            1,
            &json!({"to": "entered_in_error", "reason": "Wrong patient"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let report = app
        .get(&format!("/v1/reports/activity?{}", period()), &app.admin())
        .await;
    assert_eq!(report.status, 200, "{}", report.text);
    let b = &report.body;
    assert_eq!(b["referrals_received"], 4);
    assert_eq!(
        b["by_source"],
        json!({"gp_practice": 3, "self": 0, "family_or_friend": 0, "other_agency": 0, "community": 1})
    );
    assert_eq!(b["by_reason"]["loneliness"], 3);
    assert_eq!(b["by_reason"]["money_and_benefits"], 2);
    assert_eq!(b["by_reason"]["housing"], 1);
    assert_eq!(b["by_reason"]["family"], 0);
    let by_org = b["by_referrer_org"].as_object().unwrap();
    assert_eq!(by_org.len(), 3);
    assert_eq!(by_org[&data.practice_a.to_string()], 2);
    assert_eq!(by_org["none"], 1);
    assert_eq!(
        (&b["people_referred"], &b["people_contacted"]),
        (&json!(3), &json!(1))
    );
    assert_eq!(
        b["sessions"],
        json!({"total": 3,
               "by_kind": {"coaching": 2, "conversation": 1, "group": 0},
               "by_mode": {"face_to_face": 1, "phone": 1, "video": 1, "text": 0},
               "by_status": {"scheduled": 1, "attended": 2, "did_not_attend": 0,
                             "cancelled_by_person": 0, "cancelled_by_service": 0},
               "one_to_one_hours": 1.2})
    );
    assert_eq!(b["median_days_to_first_contact"], json!(0.0));
    assert_eq!(
        b["decline_rate"],
        json!(0.333),
        "1 declined ÷ (2 accepted + 1 declined)"
    );
    assert_eq!(b["closures_by_reason"]["no_longer_wanted"], 1);
    assert_eq!(b["closures_by_reason"]["goals_met"], 0);
    let connections = &b["connections"];
    assert_eq!(connections["by_status"]["completed"], 1);
    assert_eq!(connections["by_status"]["requested"], 1);
    assert_eq!(connections["by_status"]["signposted"], 1);
    assert_eq!(connections["by_status"]["rejected"], 0);
    assert_eq!(connections["by_outcome"]["got_help"], 1);
    let per_org = &connections["by_organisation"];
    assert_eq!(
        per_org[data.partner_1.to_string()]["by_status"]["completed"],
        1
    );
    assert_eq!(
        per_org[data.partner_1.to_string()]["by_outcome"]["got_help"],
        1
    );
    assert_eq!(
        per_org[data.partner_2.to_string()]["by_status"]["requested"],
        1
    );
    assert_eq!(per_org["none"]["by_status"]["signposted"], 1);
    assert_eq!(
        b["wellbeing"],
        json!({"swemwbs": {"people": 1, "pairs": 1, "mean_change": 4.86, "meaningful_improvement": 1},
               "ons4": {"people": 1, "pairs": 1, "mean_change": {"life_satisfaction": 3.0, "worthwhile": 0.0,
                                                       "happiness": -4.0, "anxiety": 5.0}}})
    );
    assert_eq!(b["suppressed"], json!([]), "admins see exact figures");

    // One referring organisation: its referrals and what hangs off them.
    let only_a = app
        .get(
            &format!(
                "/v1/reports/activity?{}&referrer_org_id={}",
                period(),
                data.practice_a
            ),
            &app.admin(),
        )
        .await;
    assert_eq!(only_a.body["referrals_received"], 2);
    assert_eq!(only_a.body["people_referred"], 2);
    assert_eq!(only_a.body["sessions"]["total"], 3);
    assert_eq!(only_a.body["decline_rate"], json!(0.5));
    assert_eq!(only_a.body["closures_by_reason"]["no_longer_wanted"], 0);

    // Another period: nothing.
    let empty = app
        .get(
            "/v1/reports/activity?from=2020-01-01&to=2020-12-31",
            &app.admin(),
        )
        .await;
    assert_eq!(empty.body["referrals_received"], 0);
    assert_eq!(empty.body["median_days_to_first_contact"], json!(null));
    assert_eq!(empty.body["decline_rate"], json!(null));
    assert_eq!(
        empty.body["wellbeing"]["swemwbs"],
        json!({"people": 0, "pairs": 0, "mean_change": null, "meaningful_improvement": 0})
    );
}

#[tokio::test]
async fn commissioners_see_small_numbers_suppressed_in_json_and_csv() {
    let app = TestApp::spawn().await;
    let data = build(&app).await;
    let commissioner = app.token(Role::Commissioner, None);
    let report = app
        .get(&format!("/v1/reports/activity?{}", period()), &commissioner)
        .await;
    assert_eq!(report.status, 200, "{}", report.text);
    let b = &report.body;
    assert_eq!(b["referrals_received"], json!(null), "4 is small");
    assert_eq!(b["by_source"]["gp_practice"], json!(null));
    assert_eq!(b["by_source"]["self"], 0, "zero is not suppressed");
    assert_eq!(b["sessions"]["total"], json!(null));
    // Figures derived from fewer than 8 records are suppressed too: 2 attended one-to-one sessions,
    // 3 decisions, 1 pair of measures.
    assert_eq!(b["sessions"]["one_to_one_hours"], json!(null));
    assert_eq!(b["decline_rate"], json!(null));
    assert_eq!(b["wellbeing"]["swemwbs"]["mean_change"], json!(null));
    assert_eq!(b["median_days_to_first_contact"], json!(null));
    assert_eq!(b["by_referrer_org"].as_object().map(|o| o.len()), Some(3));
    let suppressed: Vec<&str> = b["suppressed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for pointer in [
        "/referrals_received",
        "/by_source/gp_practice",
        "/by_source/community",
        &format!("/by_referrer_org/{}", data.practice_a),
        "/people_referred",
        "/sessions/total",
        "/sessions/by_kind/coaching",
        "/closures_by_reason/no_longer_wanted",
        "/connections/by_status/completed",
        &format!(
            "/connections/by_organisation/{}/by_status/completed",
            data.partner_1
        ),
        "/wellbeing/swemwbs/people",
        "/wellbeing/swemwbs/meaningful_improvement",
    ] {
        assert!(suppressed.contains(&pointer), "{pointer} in {suppressed:?}");
    }
    assert!(!suppressed.contains(&"/by_source/self"));
    for pointer in &suppressed {
        assert_eq!(b.pointer(pointer), Some(&Value::Null), "{pointer}");
    }

    // The same figures as CSV rows.
    let csv = |token: String| {
        let app = &app;
        async move {
            let response = app
                .client
                .get(app.url(&format!("/v1/reports/activity?{}", period())))
                .bearer_auth(token)
                .header("accept", "text/csv")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(
                response.headers()["content-type"].to_str().unwrap(),
                "text/csv; charset=utf-8"
            );
            response.text().await.unwrap()
        }
    };
    let theirs = csv(commissioner).await;
    let lines: Vec<&str> = theirs.lines().collect();
    assert_eq!(lines[0], "metric,breakdown,key,value");
    for row in [
        "referrals_received,,,",
        "referrals_received,by_source,gp_practice,",
        "referrals_received,by_source,self,0",
        "sessions,one_to_one_hours,,",
        "decline_rate,,,",
        "wellbeing,swemwbs,mean_change,",
        "wellbeing,ons4/mean_change,anxiety,",
    ] {
        assert!(lines.contains(&row), "{row} in\n{theirs}");
    }
    let admins = csv(app.admin()).await;
    assert!(
        admins.lines().any(|l| l == "referrals_received,,,4"),
        "{admins}"
    );
    assert!(
        admins
            .lines()
            .any(|l| l == "referrals_received,by_source,gp_practice,3")
    );
    assert_eq!(admins.lines().count(), lines.len(), "the same rows");
}

#[tokio::test]
async fn reports_check_their_period_and_roles() {
    let app = TestApp::spawn().await;
    for (query, name, code) in [
        ("from=2026-02-30&to=2026-03-01", "from", "invalid_date"),
        ("from=2026-03-01", "to", "invalid_parameter"),
        ("from=2026-03-02&to=2026-03-01", "to", "empty_range"),
        (
            "from=2026-03-01&to=2026-03-31&referrer_org_id=x",
            "referrer_org_id",
            "invalid_parameter",
        ),
    ] {
        let reply = app
            .get(&format!("/v1/reports/activity?{query}"), &app.admin())
            .await;
        reply.problem(400, "invalid_parameter");
        assert_eq!(
            reply.field_errors().first().map(|(n, _)| n.as_str()),
            Some(name),
            "{query}: {}",
            reply.text
        );
        if code != "invalid_parameter" {
            assert_eq!(reply.field_errors()[0].1, code, "{query}");
        }
    }
    for role in [Role::Coordinator, Role::Referrer, Role::Partner] {
        app.get(
            "/v1/reports/activity?from=2026-03-01&to=2026-03-31",
            &app.member(role).await,
        )
        .await
        .problem(403, "forbidden");
    }
    for role in [Role::Referrer, Role::Partner, Role::Commissioner] {
        app.get("/v1/reports/caseload", &app.member(role).await)
            .await
            .problem(403, "forbidden");
    }
}

#[tokio::test]
async fn the_caseload_report_counts_open_referrals_per_link_worker() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let (jo, _) = app.user(Role::Coordinator, None).await;
    let staff = app.coordinator();
    let mut held = Vec::new();
    for n in 0..3 {
        held.push(app.accepted(org, &format!("K-{n}")).await);
    }
    for id in &held[..2] {
        let reply = app
            .change(
                Method::PUT,
                &format!("/v1/referrals/{id}/assignee"),
                &staff,
                2,
                Some(&json!({"user_id": jo})),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    app.transition(held[0], &staff, 3, &json!({"to": "active"}))
        .await;
    let waiting = app.refer(&app.referrer(org), &referral_body("K-9")).await;
    assert_eq!(waiting.status, 201);

    let report = app.get("/v1/reports/caseload", &app.coordinator()).await;
    assert_eq!(report.status, 200, "{}", report.text);
    assert_eq!(
        report.body["link_workers"],
        json!([{"user_id": jo, "display_name": "A coordinator",
                "by_status": {"received": 0, "accepted": 1, "active": 1, "on_hold": 0}, "total": 2}])
    );
    let list = &report.body["waiting_list"];
    assert_eq!(
        (&list["count"], &list["oldest_wait_days"]),
        (&json!(2), &json!(0))
    );
    assert!(list["oldest_received_at"].is_string());
}

/// `linkwell seed` fills the database with a consistent data set that the report reads back:
/// every breakdown adds up to its total.
#[tokio::test]
async fn a_seeded_data_set_adds_up_in_the_report() {
    let app = TestApp::spawn().await;
    let output = crate::cli::linkwell()
        .env("LINKWELL_SIGNING_KEY_FILE", &app.key_file)
        .args([
            "seed",
            "--referrals",
            "3000",
            "--database-url",
            &crate::cli::database_url(&app),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("seeded 3000 referrals"), "{stdout}");
    let today = Utc::now().date_naive();
    let report = app
        .get(
            &format!(
                "/v1/reports/activity?from={}&to={today}",
                today - Duration::days(366)
            ),
            &app.admin(),
        )
        .await;
    assert_eq!(report.status, 200, "{}", report.text);
    let b = &report.body;
    let sum = |v: &Value| -> i64 {
        v.as_object()
            .unwrap()
            .values()
            .map(|n| n.as_i64().unwrap())
            .sum()
    };
    assert_eq!(b["referrals_received"], 3000);
    assert_eq!(sum(&b["by_source"]), 3000);
    assert_eq!(sum(&b["by_referrer_org"]), 3000);
    assert!(
        sum(&b["by_reason"]) >= 3000,
        "each referral has at least one reason"
    );
    let sessions = b["sessions"]["total"].as_i64().unwrap();
    assert!(
        sessions > 6000,
        "about five sessions per referral: {sessions}"
    );
    for breakdown in ["by_kind", "by_mode", "by_status"] {
        assert_eq!(sum(&b["sessions"][breakdown]), sessions, "{breakdown}");
    }
    let rate = b["decline_rate"].as_f64().unwrap();
    assert!(
        (0.05..0.25).contains(&rate),
        "about 1 in 8 declined: {rate}"
    );
    assert!(b["wellbeing"]["swemwbs"]["people"].as_i64().unwrap() > 0);
    // The seeded people are real records: staff can read one back.
    let list = app.get("/v1/referrals?limit=1", &app.coordinator()).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let nhs = list.body["items"][0]["person"]["nhs_number"]
        .as_str()
        .unwrap_or("9990000000");
    assert!(nhs.starts_with("999"), "test-range NHS numbers only: {nhs}");
}

/// Every kind of change a report counts, made through the API, leaves the running totals
/// exactly as making them afresh from the records would.
#[tokio::test]
async fn running_totals_equal_totals_made_afresh_from_the_records() {
    let app = TestApp::spawn().await;
    let data = build(&app).await;
    let staff = app.coordinator();
    let ok = |reply: crate::support::Reply| {
        assert!(reply.status.is_success(), "{}", reply.text);
        reply
    };

    // Kim: accepted, a session that was then missed, measured three times.
    let mut body = referral_body("R-6");
    person(&mut body, "Kim", None);
    body["person"]["family_name"] = json!("Nguyen");
    let r6 = app.refer(&app.referrer(data.practice_a), &body).await.id();
    ok(app
        .transition(r6, &staff, 1, &json!({"to": "accepted"}))
        .await);
    let session = ok(app
        .post(
            &format!("/v1/referrals/{r6}/sessions"),
            &staff,
            &json!({"kind": "coaching", "mode": "phone", "scheduled_at": now(),
                    "status": "attended", "duration_minutes": 40}),
        )
        .await)
    .id();
    ok(app
        .change(
            Method::PATCH,
            &format!("/v1/sessions/{session}"),
            &staff,
            1,
            Some(&json!({"status": "did_not_attend", "kind": "conversation"})),
        )
        .await);
    for (timepoint, answers) in [
        ("baseline", [2, 2, 2, 2, 2, 2, 2]),
        ("review", [3, 3, 3, 3, 3, 3, 3]),
        ("exit", [4, 4, 4, 4, 4, 4, 4]),
    ] {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        ok(app
            .post(
                &format!("/v1/referrals/{r6}/outcomes"),
                &staff,
                &json!({"instrument": "swemwbs", "timepoint": timepoint,
                        "recorded_at": now(), "answers": answers}),
            )
            .await);
    }
    // Kim's referral is handed to one team, then another: its figures move with it.
    for name in ["North", "South"] {
        let team = ok(app
            .post("/v1/teams", &app.admin(), &json!({"name": name}))
            .await)
        .id();
        let read = app.get(&format!("/v1/referrals/{r6}"), &staff).await;
        let version: i64 = read
            .header("etag")
            .unwrap()
            .trim_matches('"')
            .parse()
            .unwrap();
        ok(app
            .change(
                Method::POST,
                &format!("/v1/referrals/{r6}/handover"),
                &staff,
                version,
                Some(&json!({"team_id": team, "reason": "Moved"})),
            )
            .await);
    }
    // Referred before the group below, which it is booked on before being entered in error.
    let mistake = app.accepted(data.practice_a, "R-7").await;
    // Kim is booked on a group that is held: marked attended, then not, then attended again.
    let (facilitator, _) = app.user(Role::Coordinator, None).await;
    let group = ok(app
        .post(
            "/v1/group-sessions",
            &staff,
            &json!({"kind": "peer_support", "mode": "face_to_face", "scheduled_at": now(),
                    "facilitators": [facilitator], "title": "Coffee and chat",
                    "status": "held", "duration_minutes": 60}),
        )
        .await)
    .id();
    let places = format!("/v1/group-sessions/{group}/attendees");
    ok(app.post(&places, &staff, &json!({"referral_id": r6})).await);
    for attendance in ["attended", "did_not_attend", "attended"] {
        ok(app
            .send(
                Method::PUT,
                &format!("{places}/{r6}"),
                &staff,
                Some(&json!({"attendance": attendance})),
                &[],
            )
            .await);
    }
    // A referral entered in error after a session, a group and a connection: none of it
    // counts.
    let before = app
        .get(&format!("/v1/reports/activity?{}", period()), &app.admin())
        .await;
    let (sessions_before, groups_before) = (
        before.body["sessions"].clone(),
        before.body["group_sessions"].clone(),
    );
    assert_eq!(
        groups_before["attendances"]["attended"], 1,
        "{groups_before}"
    );
    ok(app
        .post(
            &format!("/v1/referrals/{mistake}/sessions"),
            &staff,
            &json!({"kind": "coaching", "mode": "video", "scheduled_at": now(),
                    "status": "attended", "duration_minutes": 30}),
        )
        .await);
    ok(app
        .post(&places, &staff, &json!({"referral_id": mistake}))
        .await);
    ok(app
        .send(
            Method::PUT,
            &format!("{places}/{mistake}"),
            &staff,
            Some(&json!({"attendance": "attended"})),
            &[],
        )
        .await);
    ok(app
        .post(
            &format!("/v1/referrals/{mistake}/connections"),
            &staff,
            &json!({"organisation_id": data.partner_1, "need": "housing",
                    "consent_to_share": true, "shared_fields": []}),
        )
        .await);
    ok(app
        .transition(
            mistake,
            &staff,
            3,
            &json!({"to": "entered_in_error", "reason": "Wrong patient"}),
        )
        .await);
    let after = app
        .get(&format!("/v1/reports/activity?{}", period()), &app.admin())
        .await;
    assert_eq!(after.body["sessions"], sessions_before);
    assert_eq!(after.body["group_sessions"], groups_before);
    let partner = &after.body["connections"]["by_organisation"][data.partner_1.to_string()];
    assert_eq!(partner["by_status"]["requested"], 0, "{partner}");
    assert_eq!(partner["by_status"]["completed"], 1, "{partner}");
    // Kim turns out to be Jo: the two records are merged.
    let person_of = |referral: Uuid| {
        let (app, staff) = (&app, staff.clone());
        async move {
            let read = app.get(&format!("/v1/referrals/{referral}"), &staff).await;
            read.body["person_id"].as_str().unwrap().to_owned()
        }
    };
    let kim = person_of(r6).await;
    let jo = app
        .get(
            "/v1/people?family_name=bloggs&date_of_birth=1950-02-28",
            &staff,
        )
        .await;
    let jo = jo.body["items"][0]["id"].as_str().unwrap().to_owned();
    ok(app
        .change(
            Method::POST,
            &format!("/v1/people/{jo}/merge"),
            &staff,
            1,
            Some(&json!({"duplicate_id": kim})),
        )
        .await);

    use linkwell_persistence::tallies;
    let mut conn = app.db();
    let kept = tallies::stored(&mut conn).unwrap();
    let days = tallies::stored_event_days(&mut conn).unwrap();
    assert!(kept.len() > 50, "{kept:?}");
    assert!(days.len() > 10, "{days:?}");
    let output = crate::cli::linkwell()
        .args(["retotal", "--database-url", &crate::cli::database_url(&app)])
        .env("LINKWELL_SIGNING_KEY_FILE", &app.key_file)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("made "));
    assert_eq!(tallies::stored(&mut conn).unwrap(), kept);
    assert_eq!(tallies::stored_event_days(&mut conn).unwrap(), days);

    // A window of whole months (read from month rows) holds the same as the days it covers.
    let figures = |query: String| {
        let app = &app;
        async move {
            let reply = app
                .get(&format!("/v1/reports/activity?{query}"), &app.admin())
                .await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            let mut body = reply.body;
            body.as_object_mut()
                .unwrap()
                .retain(|k, _| k != "from" && k != "to");
            body
        }
    };
    let days = figures(period()).await;
    assert_eq!(days["referrals_received"], 5);
    assert_eq!(figures("from=1900-01-01&to=9998-12-31".into()).await, days);
}

/// Concurrent writers for one person, and for one referral, keep the totals exact: creates
/// for the same person on the same day, sessions and measures on one referral, and a
/// referral entered in error, all at once.
#[tokio::test]
async fn concurrent_writers_keep_the_totals_exact() {
    use futures_util::future::join_all;
    let app = TestApp::spawn().await;
    let practice = app.organisation("Practice", "gp_practice").await;
    let staff = app.coordinator();
    let engaged = app.accepted(practice, "C-0").await;
    let mistaken = app
        .refer(&app.referrer(practice), &referral_body("C-1"))
        .await
        .id();
    let creates = (2..10).map(|i| {
        let app = &app;
        async move {
            let reply = app
                .refer(&app.referrer(practice), &referral_body(&format!("C-{i}")))
                .await;
            assert_eq!(reply.status, 201, "{}", reply.text);
        }
    });
    let sessions = (0..6).map(|i| {
        let (app, staff) = (&app, staff.clone());
        async move {
            let status = if i % 2 == 0 { "attended" } else { "scheduled" };
            let mut body = json!({"kind": "conversation", "mode": "phone", "status": status,
                                  "scheduled_at": now()});
            if status == "attended" {
                body["duration_minutes"] = json!(15);
            } else {
                body["scheduled_at"] = json!((Utc::now() + Duration::days(i)).to_rfc3339());
            }
            let reply = app
                .post(&format!("/v1/referrals/{engaged}/sessions"), &staff, &body)
                .await;
            assert_eq!(reply.status, 201, "{}", reply.text);
        }
    });
    let measures = ["baseline", "review", "exit"].map(|timepoint| {
        let (app, staff) = (&app, staff.clone());
        async move {
            let reply = app
                .post(
                    &format!("/v1/referrals/{engaged}/outcomes"),
                    &staff,
                    &json!({"instrument": "swemwbs", "timepoint": timepoint,
                            "recorded_at": now(), "answers": [3, 3, 3, 3, 3, 3, 3]}),
                )
                .await;
            assert_eq!(reply.status, 201, "{}", reply.text);
        }
    });
    let (app_ref, staff_ref) = (&app, staff.clone());
    let error = async move {
        let reply = app_ref
            .transition(
                mistaken,
                &staff_ref,
                1,
                &json!({"to": "entered_in_error", "reason": "Wrong patient"}),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    };
    tokio::join!(
        join_all(creates),
        join_all(sessions),
        join_all(measures),
        error
    );

    use linkwell_persistence::tallies;
    let mut conn = app.db();
    let kept = tallies::stored(&mut conn).unwrap();
    let days = tallies::stored_event_days(&mut conn).unwrap();
    tallies::rebuild(&mut conn).unwrap();
    assert_eq!(tallies::stored(&mut conn).unwrap(), kept);
    assert_eq!(tallies::stored_event_days(&mut conn).unwrap(), days);
    let report = app
        .get(&format!("/v1/reports/activity?{}", period()), &app.admin())
        .await;
    assert_eq!(report.body["referrals_received"], 9);
    assert_eq!(report.body["people_referred"], 1);
    assert_eq!(report.body["people_contacted"], 1);
    assert_eq!(report.body["sessions"]["total"], 6);
}
