//! Statistical disclosure control of the activity report (issue 12, item 4): an attacker with
//! a commissioner's report tries to recover every suppressed count from the published cells
//! of the same report (totals minus breakdowns), over many small configurations.

use std::collections::BTreeMap;

use chrono::{Duration, SecondsFormat, Utc};
use linkwell_domain::Role;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestApp, referral_body};

/// Where a count's true value may lie, as far as the attacker can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    lo: i64,
    hi: i64,
}

/// Far above any count.
const UNBOUNDED: i64 = 1 << 40;

/// `total = Σ parts`, by JSON pointer.
type Equation = (String, Vec<String>);

/// The pointers of every member of the object at `pointer`.
fn members(report: &Value, pointer: &str) -> Vec<String> {
    report
        .pointer(pointer)
        .and_then(Value::as_object)
        .map(|o| o.keys().map(|k| format!("{pointer}/{k}")).collect())
        .unwrap_or_default()
}

/// Every "total equals the sum of its breakdown" the report states.
fn equations(report: &Value) -> Vec<Equation> {
    let mut found = vec![
        ("/referrals_received".into(), members(report, "/by_source")),
        (
            "/referrals_received".into(),
            members(report, "/by_referrer_org"),
        ),
    ];
    for breakdown in ["by_kind", "by_mode", "by_status"] {
        found.push((
            "/sessions/total".into(),
            members(report, &format!("/sessions/{breakdown}")),
        ));
    }
    let organisations = members(report, "/connections/by_organisation");
    for breakdown in ["by_status", "by_outcome"] {
        for total in members(report, &format!("/connections/{breakdown}")) {
            let code = total.rsplit('/').next().unwrap().to_owned();
            let parts = organisations
                .iter()
                .map(|org| format!("{org}/{breakdown}/{code}"))
                .collect();
            found.push((total, parts));
        }
    }
    found
}

/// The ranges the attacker derives for every count in an equation: each published count `v`
/// is within the rounding of its true value (and a non-zero one is above the suppressed
/// range); a suppressed count is in the suppressed range; then totals and breakdowns narrow
/// each other until nothing moves. The report's own `disclosure_control` says how counts were
/// published; without it they are taken as exact.
fn attack(report: &Value) -> BTreeMap<String, Range> {
    let rule = &report["disclosure_control"];
    let half = rule["counts_rounded_to"].as_i64().unwrap_or(1) / 2;
    let small = rule["counts_suppressed_up_to"].as_i64().unwrap_or(4);
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|p| p.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };
    let suppressed = list(&report["suppressed"]);
    // Suppressed only to protect others: any count at all.
    let secondary = list(&rule["secondary_suppressed"]);
    let equations = equations(report);
    let mut ranges: BTreeMap<String, Range> = BTreeMap::new();
    for (total, parts) in &equations {
        for pointer in std::iter::once(total).chain(parts) {
            let range = match report.pointer(pointer) {
                // A part the report leaves out (an organisation with none) is 0.
                None => Range { lo: 0, hi: 0 },
                Some(Value::Null) => {
                    assert!(suppressed.contains(pointer), "{pointer}");
                    if secondary.contains(pointer) {
                        Range {
                            lo: 0,
                            hi: UNBOUNDED,
                        }
                    } else {
                        Range { lo: 1, hi: small }
                    }
                }
                Some(v) => {
                    let v = v.as_i64().unwrap_or_else(|| panic!("{pointer}: {v}"));
                    if v == 0 {
                        Range { lo: 0, hi: 0 }
                    } else {
                        Range {
                            lo: (v - half).max(small + 1),
                            hi: v + half,
                        }
                    }
                }
            };
            ranges.insert(pointer.clone(), range);
        }
    }
    loop {
        let mut moved = false;
        for (total, parts) in &equations {
            let sum_lo: i64 = parts.iter().map(|p| ranges[p].lo).sum();
            let sum_hi: i64 = parts
                .iter()
                .fold(0i64, |sum, p| sum.saturating_add(ranges[p].hi))
                .min(UNBOUNDED);
            let t = ranges[total];
            let narrowed = Range {
                lo: t.lo.max(sum_lo),
                hi: t.hi.min(sum_hi),
            };
            if narrowed != t {
                ranges.insert(total.clone(), narrowed);
                moved = true;
            }
            let t = ranges[total];
            for (at, part) in parts.iter().enumerate() {
                let p = ranges[part];
                let others = || parts.iter().enumerate().filter(|(j, _)| *j != at);
                let others_lo: i64 = others().map(|(_, o)| ranges[o].lo).sum();
                let others_hi = others()
                    .fold(0i64, |sum, (_, o)| sum.saturating_add(ranges[o].hi))
                    .min(UNBOUNDED);
                let hi = if t.hi >= UNBOUNDED {
                    UNBOUNDED
                } else {
                    t.hi - others_lo
                };
                let narrowed = Range {
                    lo: p.lo.max(t.lo - others_hi),
                    hi: p.hi.min(hi),
                };
                if narrowed != p {
                    ranges.insert(part.clone(), narrowed);
                    moved = true;
                }
            }
        }
        if !moved {
            return ranges;
        }
    }
}

/// Attacks the commissioner's `report` and fails if any suppressed count is recovered; the
/// admin's `exact` report of the same period checks the attacker never rules the truth out.
/// Returns how many suppressed counts were attacked.
fn assert_not_recovered(report: &Value, exact: &Value, what: &str) -> usize {
    let ranges = attack(report);
    let mut attacked = 0;
    for (pointer, range) in &ranges {
        let truth = exact.pointer(pointer).and_then(Value::as_i64).unwrap_or(0);
        assert!(
            range.lo <= truth && truth <= range.hi,
            "{what}: {pointer} is {truth}, outside the derived {range:?}"
        );
        if report.pointer(pointer) == Some(&Value::Null) {
            attacked += 1;
            assert!(
                range.lo < range.hi,
                "{what}: the suppressed {pointer} is recovered as {} from\n{report:#}",
                range.lo
            );
        }
    }
    attacked
}

/// Every count a commissioner sees is 0, suppressed, or a multiple of 5 within 2 of the truth.
fn assert_counts_rounded(report: &Value, exact: &Value, what: &str) {
    for (total, parts) in equations(report) {
        for pointer in std::iter::once(&total).chain(&parts) {
            let Some(published) = report.pointer(pointer).and_then(Value::as_i64) else {
                continue;
            };
            let truth = exact.pointer(pointer).and_then(Value::as_i64).unwrap();
            assert_eq!(published % 5, 0, "{what}: {pointer}");
            assert!((published - truth).abs() <= 2, "{what}: {pointer}");
            assert!(truth == 0 || truth >= 8, "{what}: {pointer} = {truth}");
        }
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn today() -> String {
    Utc::now().date_naive().to_string()
}

/// The exact case of the issue: 5 GP referrals and 2 self-referrals. Before, `self` was null
/// but equalled 7 − 5; now every cell of that breakdown is suppressed, and one-to-one hours
/// from 6 sessions (fewer than 8 records) are suppressed too.
#[tokio::test]
async fn five_gp_and_two_self_referrals_cannot_be_told_apart() {
    let app = TestApp::spawn().await;
    let practice = app.organisation("Practice", "gp_practice").await;
    let mut first = None;
    for i in 0..5 {
        let reply = app
            .refer(&app.referrer(practice), &referral_body(&format!("GP-{i}")))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        first.get_or_insert(reply.id());
    }
    for (given, phone) in [("Alex", "07700 900456"), ("Kim", "07700 900457")] {
        let reply = app
            .call(
                reqwest::Method::POST,
                "/v1/self-referrals",
                None,
                Some(&json!({
                    "person": {"given_name": given, "family_name": "Reed",
                               "date_of_birth": "1990-05-01", "phone": phone},
                    "reasons": ["loneliness"], "consent_to_share": true,
                    "preferred_contact": "text"})),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
    }
    let staff = app.coordinator();
    let r1 = first.unwrap();
    let reply = app
        .transition(r1, &staff, 1, &json!({"to": "accepted"}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    for _ in 0..6 {
        let reply = app
            .post(
                &format!("/v1/referrals/{r1}/sessions"),
                &staff,
                &json!({"kind": "conversation", "mode": "phone", "scheduled_at": now(),
                        "status": "attended", "duration_minutes": 30}),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
    }

    let period = format!("from={}&to={}", today(), today());
    let exact = app
        .get(&format!("/v1/reports/activity?{period}"), &app.admin())
        .await;
    assert_eq!(exact.status, 200, "{}", exact.text);
    assert_eq!(exact.body["referrals_received"], 7);
    assert_eq!(exact.body["by_source"]["gp_practice"], 5);
    assert_eq!(exact.body["by_source"]["self"], 2);
    assert_eq!(exact.body["by_referrer_org"]["none"], 2);
    assert_eq!(exact.body["sessions"]["one_to_one_hours"], 3.0);
    assert_eq!(exact.body["disclosure_control"], Value::Null);

    let commissioner = app.token(Role::Commissioner, None);
    let report = app
        .get(&format!("/v1/reports/activity?{period}"), &commissioner)
        .await;
    assert_eq!(report.status, 200, "{}", report.text);
    let b = &report.body;
    assert_eq!(
        b["disclosure_control"],
        json!({"counts_rounded_to": 5, "counts_suppressed_up_to": 7,
               "derived_figures_min_records": 8, "secondary_suppressed": []})
    );
    for pointer in [
        "/referrals_received".to_owned(),
        "/by_source/gp_practice".to_owned(),
        "/by_source/self".to_owned(),
        format!("/by_referrer_org/{practice}"),
        "/by_referrer_org/none".to_owned(),
        "/sessions/total".to_owned(),
        "/sessions/one_to_one_hours".to_owned(),
    ] {
        assert_eq!(b.pointer(&pointer), Some(&Value::Null), "{pointer}");
        assert!(
            b["suppressed"]
                .as_array()
                .unwrap()
                .contains(&json!(pointer)),
            "{pointer} listed in {}",
            b["suppressed"]
        );
    }
    assert_eq!(b["by_source"]["community"], 0, "0 stays 0");
    let attacked = assert_not_recovered(b, &exact.body, "5 GP + 2 self");
    assert!(attacked >= 5, "{attacked}");
}

/// Many small configurations: a seeded year of referrals, reported over windows of 1 to 60
/// days at several offsets, for the whole service and per referring organisation. No
/// suppressed count is ever recovered, and every published count is rounded to 5.
#[tokio::test]
async fn no_suppressed_count_is_recovered_from_its_report() {
    let app = TestApp::spawn().await;
    let output = crate::cli::linkwell()
        .env("LINKWELL_SIGNING_KEY_FILE", &app.key_file)
        .args([
            "seed",
            "--referrals",
            "400",
            "--seed",
            "12",
            "--database-url",
            &crate::cli::database_url(&app),
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let admin = app.admin();
    let commissioner = app.token(Role::Commissioner, None);
    let end = Utc::now().date_naive();
    let year = app
        .get(
            &format!(
                "/v1/reports/activity?from={}&to={end}",
                end - Duration::days(366)
            ),
            &admin,
        )
        .await;
    assert_eq!(year.status, 200, "{}", year.text);
    let organisations: Vec<Option<Uuid>> = std::iter::once(None)
        .chain(
            year.body["by_referrer_org"]
                .as_object()
                .unwrap()
                .keys()
                .filter_map(|k| k.parse().ok())
                .take(2)
                .map(Some),
        )
        .collect();
    assert_eq!(organisations.len(), 3, "{}", year.body["by_referrer_org"]);

    let (mut reports, mut attacked, mut mixed, mut secondary) = (0, 0, 0, 0);
    for (days, offsets) in [
        (1, [3, 40, 200]),
        (3, [10, 90, 250]),
        (7, [0, 60, 180]),
        (14, [20, 120, 300]),
        (30, [0, 100, 200]),
        (60, [30, 150, 280]),
    ] {
        for offset in offsets {
            let to = end - Duration::days(offset);
            let from = to - Duration::days(days - 1);
            for org in &organisations {
                let mut query = format!("/v1/reports/activity?from={from}&to={to}");
                if let Some(org) = org {
                    query.push_str(&format!("&referrer_org_id={org}"));
                }
                let exact = app.get(&query, &admin).await;
                for (total, parts) in equations(&exact.body) {
                    let value =
                        |p: &str| exact.body.pointer(p).and_then(Value::as_i64).unwrap_or(0);
                    let sum: i64 = parts.iter().map(|p| value(p)).sum();
                    assert_eq!(value(&total), sum, "{total} = {parts:?} in {query}");
                }
                let report = app.get(&query, &commissioner).await;
                assert_eq!(report.status, 200, "{}", report.text);
                let what = format!("{from}..{to} {org:?}");
                assert_counts_rounded(&report.body, &exact.body, &what);
                attacked += assert_not_recovered(&report.body, &exact.body, &what);
                let published = report.body["by_source"]
                    .as_object()
                    .unwrap()
                    .values()
                    .any(|v| v.as_i64().is_some_and(|n| n > 0));
                let hidden = report.body["by_source"]
                    .as_object()
                    .unwrap()
                    .values()
                    .any(Value::is_null);
                if published && hidden {
                    mixed += 1;
                }
                secondary += report.body["disclosure_control"]["secondary_suppressed"]
                    .as_array()
                    .unwrap()
                    .len();
                reports += 1;
            }
        }
    }
    assert_eq!(reports, 54);
    // The configurations really mix published and suppressed cells of one breakdown.
    assert!(attacked > 100, "{attacked} suppressed counts attacked");
    assert!(
        mixed > 5,
        "{mixed} reports mix published and suppressed sources"
    );
    // Some totals had to be withheld too (many organisations with a few each).
    assert!(secondary > 0, "{secondary} secondary suppressions");
}
