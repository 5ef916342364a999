//! Privacy rights: erasure leaves no trace of the person in any column of any table while the
//! reports stay byte-identical; erased records answer 404 (410 to administrators) and leave
//! every list; the subject access export holds every section and the accesses; `linkwell
//! purge` anonymises what is past retention, and only that.

use chrono::{Duration, SecondsFormat, Utc};
use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Text};
use linkwell_domain::{NhsNumber, Role};
use linkwell_persistence::{DbConnection, audit};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::cli::{database_url, linkwell};
use crate::support::{Reply, TestApp, backend, referral_body};

/// Strings found nowhere but in this person's data, each as it is stored.
const MARKERS: &[&str] = &[
    "Zqgiven",
    "Zqfamily",
    "07700900917",
    "zqmail@example.org",
    "ZE2 9QQ",
    "Zqaddress",
    "ZQ-EXT-REF",
    "Zqsummary",
    "Zqaccepting",
    "Zqhandover",
    "Zqclosing",
    "Zqsession",
    "Zqmatters",
    "Zqstrengths",
    "Zqgoal",
    "Zqforpartner",
    "Zqnote",
    "Zqprogress",
    "Zqconsent",
    "Zqerror",
    "Zqintroducer",
    "07700900918",
    "Zqselfsummary",
    "Zqbehalf",
];

/// A valid NHS number no fixture uses: the first from `start` that passes the check.
fn nhs_number(start: u64) -> String {
    (start..start + 100)
        .map(|n| format!("{n:010}"))
        .find(|n| NhsNumber::parse(n).is_ok())
        .unwrap()
}

fn now(offset: Duration) -> String {
    (Utc::now() + offset).to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn ok(reply: Reply) -> Reply {
    assert!(reply.status.is_success(), "{}", reply.text);
    reply
}

fn id_at(body: &Value, key: &str) -> Uuid {
    Uuid::parse_str(body[key].as_str().unwrap()).unwrap()
}

async fn etag_of(app: &TestApp, path: &str) -> i64 {
    let read = ok(app.get(path, &app.admin()).await);
    read.header("etag")
        .unwrap()
        .trim_matches('"')
        .parse()
        .unwrap()
}

/// A person with a marker in every free-text and identifying field: a GP referral (sent with
/// an idempotency key) with a session, plan, goal, measure entered in error, consent act and
/// a connection the partner read, accepted and wrote on; and a self-referral by a neighbour
/// that made a second record, merged into the first. Both referrals closed.
struct Case {
    app: TestApp,
    /// The GP practice that sent the referral.
    org: Uuid,
    person: Uuid,
    referral: Uuid,
    self_referral: Uuid,
    session: Uuid,
    goal: Uuid,
    connection: Uuid,
    outcome: Uuid,
    partner: String,
}

impl Case {
    async fn new() -> Self {
        Self::on(TestApp::spawn().await).await
    }

    async fn on(app: TestApp) -> Self {
        let org = app.organisation("Practice", "gp_practice").await;
        let partner_org = app.organisation("Partner", "partner").await;
        let partner = app.token(Role::Partner, Some(partner_org));
        let staff = app.coordinator();
        let mut body = referral_body("ZQ-EXT-REF");
        body["person"] = json!({
            "given_name": "Zqgiven", "family_name": "Zqfamily", "date_of_birth": "1950-02-28",
            "nhs_number": nhs_number(9_434_765_910), "phone": "07700900917",
            "email": "zqmail@example.org", "postcode": "ZE2 9QQ",
            "address": "1 Zqaddress", "preferred_contact": "phone"
        });
        body["summary"] = json!("Zqsummary");
        let keyed = [("idempotency-key", "zq-referral")];
        let referrer = app.referrer(org);
        let made = ok(app
            .send(
                Method::POST,
                "/v1/referrals",
                &referrer,
                Some(&body),
                &keyed,
            )
            .await);
        let referral = made.id();
        let replay = app
            .send(
                Method::POST,
                "/v1/referrals",
                &referrer,
                Some(&body),
                &keyed,
            )
            .await;
        assert_eq!(replay.header("idempotent-replayed"), Some("true"));
        ok(app
            .transition(
                referral,
                &staff,
                1,
                &json!({"to": "accepted", "reason": "Zqaccepting"}),
            )
            .await);
        // A handover's reason is free text about the person: erased with the rest.
        let team = ok(app
            .post("/v1/teams", &app.admin(), &json!({"name": "Erasure team"}))
            .await)
        .id();
        ok(app
            .change(
                Method::POST,
                &format!("/v1/referrals/{referral}/handover"),
                &staff,
                2,
                Some(&json!({"team_id": team, "reason": "Zqhandover"})),
            )
            .await);
        let staff_view = ok(app.get(&format!("/v1/referrals/{referral}"), &staff).await);
        let person = id_at(&staff_view.body, "person_id");
        let under = |tail: &str| format!("/v1/referrals/{referral}/{tail}");
        let session = ok(app
            .post(
                &under("sessions"),
                &staff,
                &json!({"kind": "conversation", "mode": "phone", "scheduled_at": now(Duration::zero()),
                        "status": "attended", "duration_minutes": 15, "notes": "Zqsession"}),
            )
            .await)
        .id();
        ok(app
            .send(
                Method::PUT,
                &under("plan"),
                &staff,
                Some(&json!({"what_matters": "Zqmatters", "strengths": "Zqstrengths"})),
                &[],
            )
            .await);
        let goal = ok(app
            .post(
                &under("plan/goals"),
                &staff,
                &json!({"description": "Zqgoal"}),
            )
            .await)
        .id();
        let connection = ok(app
            .send(
                Method::POST,
                &under("connections"),
                &staff,
                Some(
                    &json!({"organisation_id": partner_org, "need": "money_and_benefits",
                        "consent_to_share": true,
                        "shared_fields": ["given_name", "family_name", "phone", "wellbeing_plan"],
                        "note_for_partner": "Zqforpartner"}),
                ),
                &[("idempotency-key", "zq-connection")],
            )
            .await)
        .id();
        let seen = ok(app
            .get(&format!("/v1/connections/{connection}"), &partner)
            .await);
        assert_eq!(seen.body["person"]["given_name"], "Zqgiven");
        ok(app
            .change(
                Method::POST,
                &format!("/v1/connections/{connection}/transitions"),
                &partner,
                1,
                Some(&json!({"to": "accepted"})),
            )
            .await);
        ok(app
            .post(
                &format!("/v1/connections/{connection}/notes"),
                &partner,
                &json!({"text": "Zqnote"}),
            )
            .await);
        ok(app
            .post(
                &format!("/v1/connections/{connection}/plan/progress-notes"),
                &partner,
                &json!({"goal_id": goal, "text": "Zqprogress"}),
            )
            .await);
        // An answer staff took down for the partner names who gave it: free text too.
        let version = etag_of(&app, &format!("/v1/connections/{connection}")).await;
        ok(app
            .change(
                Method::POST,
                &format!("/v1/connections/{connection}/transitions"),
                &staff,
                version,
                Some(&json!({"to": "in_progress",
                             "recorded_on_behalf_of": "Zqbehalf, their adviser, by phone"})),
            )
            .await);
        let outcome = ok(app
            .post(
                &under("outcomes"),
                &staff,
                &json!({"instrument": "swemwbs", "timepoint": "baseline",
                        "recorded_at": now(Duration::zero()), "answers": [3, 3, 3, 3, 3, 3, 3]}),
            )
            .await)
        .id();
        ok(app
            .change(
                Method::POST,
                &format!("/v1/outcomes/{outcome}/entered-in-error"),
                &staff,
                1,
                Some(&json!({"reason": "Zqerror"})),
            )
            .await);
        let version = etag_of(&app, &format!("/v1/referrals/{referral}")).await;
        ok(app
            .change(
                Method::POST,
                &under("consent"),
                &staff,
                version,
                Some(&json!({"status": "given", "scope": "sharing_with_partners",
                        "reason": "Zqconsent"})),
            )
            .await);
        // A neighbour refers them too: a second record, flagged, then merged into the first.
        let self_body = json!({
            "person": {"given_name": "Zqgiven", "family_name": "Zqfamily",
                       "date_of_birth": "1950-02-28", "phone": "07700900917"},
            "reasons": ["loneliness"], "consent_to_share": true, "preferred_contact": "phone",
            "summary": "Zqselfsummary",
            "introduced_by": {"name": "Zqintroducer", "relationship": "neighbour",
                              "phone": "07700900918"}
        });
        let public = app
            .client
            .post(app.url("/v1/self-referrals"))
            .header("idempotency-key", "zq-self")
            .json(&self_body)
            .send()
            .await
            .unwrap();
        let public = Reply::from_response(public).await;
        assert_eq!(public.status, 201, "{}", public.text);
        let reference = public.body["reference"].as_str().unwrap().to_owned();
        let found = ok(app
            .get(&format!("/v1/referrals?reference={reference}"), &staff)
            .await);
        let self_referral = id_at(&found.body["items"][0], "id");
        let duplicate = id_at(&found.body["items"][0], "person_id");
        assert_ne!(duplicate, person);
        let version = etag_of(&app, &format!("/v1/people/{person}")).await;
        ok(app
            .change(
                Method::POST,
                &format!("/v1/people/{person}/merge"),
                &staff,
                version,
                Some(&json!({"duplicate_id": duplicate})),
            )
            .await);
        let version = etag_of(&app, &format!("/v1/referrals/{referral}")).await;
        ok(app
            .transition(
                referral,
                &staff,
                version,
                &json!({"to": "closed", "reason_code": "goals_met", "reason": "Zqclosing"}),
            )
            .await);
        let version = etag_of(&app, &format!("/v1/referrals/{self_referral}")).await;
        ok(app
            .transition(
                self_referral,
                &staff,
                version,
                &json!({"to": "declined", "reason": "Zqclosing"}),
            )
            .await);
        Self {
            app,
            org,
            person,
            referral,
            self_referral,
            session,
            goal,
            connection,
            outcome,
            partner,
        }
    }

    async fn erase(&self) -> Reply {
        self.app
            .post(
                &format!("/v1/people/{}/erasure", self.person),
                &self.app.admin(),
                &json!({"reason": "The person asked (article 17)"}),
            )
            .await
    }

    /// Every report, as their readers get them, byte for byte.
    async fn reports(&self) -> Vec<String> {
        let app = &self.app;
        let today = Utc::now().date_naive();
        let period = format!(
            "from={}&to={}",
            today - Duration::days(30),
            today + Duration::days(1)
        );
        let commissioner = app.token(Role::Commissioner, None);
        let mut texts = Vec::new();
        for (path, token) in [
            (format!("/v1/reports/activity?{period}"), app.admin()),
            (format!("/v1/reports/activity?{period}"), commissioner),
            ("/v1/reports/caseload".to_owned(), app.admin()),
        ] {
            texts.push(ok(app.get(&path, &token).await).text);
        }
        texts
    }
}

#[derive(diesel::QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Every column of every table, from the database's own catalogue.
fn columns(conn: &mut DbConnection) -> Vec<Column> {
    let sql = if backend() == "postgres" {
        "SELECT table_name::text AS table_name, column_name::text AS column_name
         FROM information_schema.columns WHERE table_schema = 'public'"
    } else {
        "SELECT m.name AS table_name, p.name AS column_name
         FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table'"
    };
    diesel::sql_query(sql).load(conn).unwrap()
}

/// Where each marker is stored: `(marker, table.column)` for every column holding it.
fn found(conn: &mut DbConnection) -> Vec<(String, String)> {
    let mut hits = Vec::new();
    for column in columns(conn) {
        for marker in MARKERS {
            let sql = format!(
                "SELECT COUNT(*) AS n FROM \"{}\" WHERE LOWER(CAST(\"{}\" AS TEXT)) LIKE '%{}%'",
                column.table_name,
                column.column_name,
                marker.to_lowercase()
            );
            let count: Count = diesel::sql_query(sql).get_result(conn).unwrap();
            if count.n > 0 {
                hits.push((
                    (*marker).to_owned(),
                    format!("{}.{}", column.table_name, column.column_name),
                ));
            }
        }
    }
    hits
}

#[tokio::test]
async fn erasure_leaves_no_marker_anywhere_and_the_reports_as_they_were() {
    let case = Case::new().await;
    let mut conn = case.app.db();
    // The oracle sees every marker before: a marker it could not find would prove nothing.
    let before = found(&mut conn);
    for marker in MARKERS {
        assert!(
            before.iter().any(|(m, _)| m == marker),
            "{marker} is not stored as written"
        );
    }
    let reports = case.reports().await;

    let erased = case.erase().await;
    assert_eq!(erased.status, 200, "{}", erased.text);
    assert_eq!(erased.body["id"], json!(case.person));
    assert_eq!(erased.body["erased_by"], "admin-user");
    assert_eq!(erased.body["referrals"], 2);

    assert_eq!(found(&mut conn), Vec::<(String, String)>::new());
    assert_eq!(case.reports().await, reports);
    // The self-referrer's address is no longer in the trail; every row is still there.
    let trail = audit::recent(&mut conn, 10_000).unwrap();
    assert!(trail.iter().all(|e| !e.actor_sub.starts_with("anonymous@")));
    assert!(trail.iter().any(|e| e.actor_sub == "anonymous"));
    // Only one row records the erasure.
    let rows: Vec<_> = trail
        .iter()
        .filter(|e| e.action == "person.erase")
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].outcome.as_str(), rows[0].person_id),
        ("success", Some(case.person))
    );
}

#[tokio::test]
async fn after_erasure_reads_are_gone_and_lists_forget_the_person() {
    let case = Case::new().await;
    let app = &case.app;
    let coordinator = app.coordinator();
    let org = app.organisation("Other practice", "gp_practice").await;
    // Someone else, whose records stay in every list.
    let other = app.accepted(org, "KEEP-1").await;
    ok(case.erase().await);

    let (p, r, s, g, c, o) = (
        case.person,
        case.referral,
        case.session,
        case.goal,
        case.connection,
        case.outcome,
    );
    let staff_reads = [
        format!("/v1/people/{p}"),
        format!("/v1/people/{p}/export"),
        format!("/v1/referrals/{r}"),
        format!("/v1/referrals/{}", case.self_referral),
        format!("/v1/referrals/{r}/history"),
        format!("/v1/referrals/{r}/consent"),
        format!("/v1/referrals/{r}/sessions"),
        format!("/v1/sessions/{s}"),
        format!("/v1/referrals/{r}/plan"),
        format!("/v1/referrals/{r}/plan/goals"),
        format!("/v1/goals/{g}"),
        format!("/v1/referrals/{r}/connections"),
        format!("/v1/connections/{c}"),
        format!("/v1/connections/{c}/notes"),
        format!("/v1/referrals/{r}/outcomes"),
        format!("/v1/outcomes/{o}"),
    ];
    for path in &staff_reads {
        app.get(path, &app.admin()).await.problem(410, "gone");
        let coordinator_read = app.get(path, &coordinator).await;
        // The export is for administrators alone.
        if path.ends_with("/export") {
            coordinator_read.problem(403, "forbidden");
        } else {
            coordinator_read.problem(404, "not_found");
        }
    }
    for path in [
        format!("/v1/connections/{c}"),
        format!("/v1/connections/{c}/notes"),
    ] {
        app.get(&path, &case.partner)
            .await
            .problem(404, "not_found");
    }
    // The referrer that sent it hears nothing either.
    let sent = app
        .get(&format!("/v1/referrals/{r}"), &app.referrer(case.org))
        .await;
    sent.problem(404, "not_found");
    // Changes are refused as for something that is not there.
    let write = app
        .post(
            &format!("/v1/referrals/{r}/plan/goals"),
            &app.admin(),
            &json!({"description": "More"}),
        )
        .await;
    write.problem(404, "not_found");

    for (path, token) in [
        ("/v1/referrals".to_owned(), coordinator.clone()),
        ("/v1/referrals".to_owned(), app.admin()),
        (format!("/v1/referrals?person_id={p}"), app.admin()),
        ("/v1/connections".to_owned(), coordinator.clone()),
        ("/v1/connections".to_owned(), case.partner.clone()),
        (
            format!("/v1/connections?updated_since={}", now(-Duration::days(1))),
            case.partner.clone(),
        ),
        (
            format!("/v1/referrals?updated_since={}", now(-Duration::days(1))),
            app.admin(),
        ),
        (
            "/v1/people?family_name=Zqfamily&date_of_birth=1950-02-28".to_owned(),
            app.admin(),
        ),
    ] {
        let list = app.get(&path, &token).await;
        assert_eq!(list.status, 200, "{path}: {}", list.text);
        let text = list.text.clone();
        for id in [p, r, case.self_referral, c] {
            assert!(!text.contains(&id.to_string()), "{path} shows {id}: {text}");
        }
    }
    let listed = ok(app.get("/v1/referrals", &coordinator).await);
    assert_eq!(listed.body["items"][0]["id"], json!(other));

    // A second erasure: gone.
    case.erase().await.problem(410, "gone");
    let trail = audit::recent(&mut app.db(), 10_000).unwrap();
    let erasures: Vec<_> = trail
        .iter()
        .filter(|e| e.action == "person.erase")
        .map(|e| e.outcome.as_str())
        .collect();
    assert_eq!(erasures, ["gone", "success"]);
}

#[tokio::test]
async fn erasure_is_refused_while_a_referral_is_open_and_to_anyone_but_admins() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let referral = app.accepted(org, "OPEN-1").await;
    let read = ok(app
        .get(&format!("/v1/referrals/{referral}"), &app.admin())
        .await);
    let person = id_at(&read.body, "person_id");
    let path = format!("/v1/people/{person}/erasure");
    let reason = json!({"reason": "Asked"});

    let open = app.post(&path, &app.admin(), &reason).await;
    let problem = open.problem(409, "referral_open");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("/v1/referrals/{referral}")),
        "{problem}"
    );
    // Nothing changed.
    let again = ok(app.get(&format!("/v1/people/{person}"), &app.admin()).await);
    assert_eq!(again.body["given_name"], "Sam");

    for role in [
        Role::Coordinator,
        Role::Referrer,
        Role::Partner,
        Role::Commissioner,
    ] {
        let token = app.member(role).await;
        app.post(&path, &token, &reason)
            .await
            .problem(403, "forbidden");
    }
    app.post(
        &format!("/v1/people/{}/erasure", Uuid::new_v4()),
        &app.admin(),
        &reason,
    )
    .await
    .problem(404, "not_found");
    let missing = app.post(&path, &app.admin(), &json!({})).await;
    missing.problem(422, "validation_failed");
    let blank = app
        .post(&path, &app.admin(), &json!({"reason": "  "}))
        .await;
    assert_eq!(blank.field_errors()[0].0, "/reason");
    let long = app
        .post(&path, &app.admin(), &json!({"reason": "x".repeat(501)}))
        .await;
    assert_eq!(long.status, 422, "{}", long.text);
    let unknown = app
        .post(&path, &app.admin(), &json!({"reason": "Asked", "also": 1}))
        .await;
    assert_eq!(unknown.status, 422, "{}", unknown.text);
    let not_json = app
        .send(
            Method::POST,
            &path,
            &app.admin(),
            None,
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(not_json.status, 400, "{}", not_json.text);
}

#[tokio::test]
async fn the_export_holds_every_section_and_who_accessed_the_record() {
    let case = Case::new().await;
    let app = &case.app;
    let path = format!("/v1/people/{}/export", case.person);
    let first = ok(app.get(&path, &app.admin()).await);
    let body = &first.body;
    assert_eq!(body["person"]["id"], json!(case.person));
    assert_eq!(body["person"]["given_name"], "Zqgiven");
    let referrals = body["referrals"].as_array().unwrap();
    assert_eq!(referrals.len(), 2);
    let main = referrals
        .iter()
        .find(|r| r["referral"]["id"] == json!(case.referral))
        .unwrap();
    assert_eq!(main["referral"]["summary"], "Zqsummary");
    let history: Vec<&str> = main["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["to"].as_str().unwrap())
        .collect();
    assert!(
        history.contains(&"accepted") && history.contains(&"closed"),
        "{history:?}"
    );
    let handover = main["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "team")
        .unwrap();
    assert_eq!(handover["reason"], "Zqhandover");
    assert_eq!(main["consent"][0]["reason"], "Zqconsent");
    assert_eq!(main["sessions"][0]["id"], json!(case.session));
    assert_eq!(main["sessions"][0]["notes"], "Zqsession");
    assert_eq!(main["plan"]["what_matters"], "Zqmatters");
    assert_eq!(main["plan"]["goals"][0]["id"], json!(case.goal));
    assert_eq!(main["plan"]["goals"][0]["description"], "Zqgoal");
    let connection = &main["connections"][0];
    assert_eq!(connection["connection"]["id"], json!(case.connection));
    assert_eq!(
        connection["connection"]["person"],
        json!({"given_name": "Zqgiven", "family_name": "Zqfamily", "phone": "07700900917"})
    );
    assert_eq!(connection["notes"][0]["text"], "Zqnote");
    assert_eq!(main["outcomes"][0]["id"], json!(case.outcome));
    assert_eq!(body["accesses_complete"], true);

    let accesses = body["accesses"].as_array().unwrap();
    let did = |actor: &str, action: &str| {
        accesses
            .iter()
            .any(|a| a["actor"] == actor && a["action"] == action && a["outcome"] == "success")
    };
    assert!(did("partner-user", "connection.read"), "{accesses:?}");
    assert!(did("coordinator-user", "referral.read"), "{accesses:?}");
    assert!(!did("admin-user", "person.export"));

    let second = ok(app.get(&path, &app.admin()).await);
    let accesses = second.body["accesses"].as_array().unwrap();
    assert_eq!(accesses[0]["action"], "person.export");
    assert_eq!(accesses[0]["actor"], "admin-user");
    assert_eq!(accesses[0]["actor_role"], "admin");

    // Administrators alone; an unknown person is 404; an erased one is gone.
    app.get(&path, &app.coordinator())
        .await
        .problem(403, "forbidden");
    app.get(
        &format!("/v1/people/{}/export", Uuid::new_v4()),
        &app.admin(),
    )
    .await
    .problem(404, "not_found");
    ok(case.erase().await);
    app.get(&path, &app.admin()).await.problem(410, "gone");
}

/// Runs `linkwell purge` over the app's database.
fn purge(app: &TestApp, args: &[&str], years: Option<&str>) -> std::process::Output {
    let mut command = linkwell();
    command
        .arg("purge")
        .args(args)
        .env("DATABASE_URL", database_url(app));
    match years {
        Some(years) => command.env("LINKWELL_RETENTION_YEARS", years),
        None => command.env_remove("LINKWELL_RETENTION_YEARS"),
    };
    command.output().unwrap()
}

fn counts(output: &std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Moves every change of status of `referral` back by `years`, as if it had closed then.
fn rewind(conn: &mut DbConnection, referral: Uuid, years: i64) {
    let sql = if backend() == "postgres" {
        format!(
            "UPDATE referral_status_changes SET changed_at = changed_at - INTERVAL '{years} years'
             WHERE referral_id = '{referral}'"
        )
    } else {
        format!(
            "UPDATE referral_status_changes SET changed_at = datetime(changed_at, '-{years} years')
             WHERE referral_id = '{referral}'"
        )
    };
    diesel::sql_query(sql).execute(conn).unwrap();
}

#[tokio::test]
async fn purge_anonymises_only_what_is_past_retention_once() {
    let case = Case::new().await;
    let app = &case.app;
    let staff = app.coordinator();
    let org = app.organisation("Other practice", "gp_practice").await;
    // Closed recently: kept whole.
    let recent = app.accepted(org, "RECENT-1").await;
    ok(app
        .transition(
            recent,
            &staff,
            2,
            &json!({"to": "closed", "reason_code": "goals_met", "reason": "Kept whole"}),
        )
        .await);
    // Someone with one old closed referral and one still open: only the old one goes.
    let mut body = referral_body("MIXED-1");
    body["person"]["nhs_number"] = json!(nhs_number(9_434_766_000));
    body["person"]["given_name"] = json!("Mixed");
    let old = ok(app.refer(&app.referrer(org), &body).await).id();
    ok(app
        .transition(
            old,
            &staff,
            1,
            &json!({"to": "declined", "reason": "Old words"}),
        )
        .await);
    body["external_reference"] = json!("MIXED-2");
    let open = ok(app.refer(&app.referrer(org), &body).await).id();
    let mut conn = app.db();
    for referral in [case.referral, case.self_referral, old] {
        rewind(&mut conn, referral, 9);
    }
    let reports = case.reports().await;

    for bad in ["0", "101", "eight"] {
        let refused = purge(app, &["--dry-run"], Some(bad));
        assert!(!refused.status.success());
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("LINKWELL_RETENTION_YEARS"),
            "{}",
            String::from_utf8_lossy(&refused.stderr)
        );
    }
    let expected = json!({"referrals_anonymised": 3, "people_erased": 1});
    let dry = counts(&purge(app, &["--dry-run"], None));
    assert_eq!(
        dry,
        json!({"dry_run": true, "referrals_anonymised": 3, "people_erased": 1})
    );
    let still = ok(app.get(&format!("/v1/referrals/{old}"), &staff).await);
    assert_eq!(still.body["status_reason"], "Old words");
    ok(app
        .get(&format!("/v1/people/{}", case.person), &staff)
        .await);

    // Nine years back is within a retention of ten.
    let none = counts(&purge(app, &[], Some("10")));
    assert_eq!(
        none,
        json!({"dry_run": false, "referrals_anonymised": 0, "people_erased": 0})
    );

    let done = counts(&purge(app, &[], Some("8")));
    assert_eq!(
        done["referrals_anonymised"],
        expected["referrals_anonymised"]
    );
    assert_eq!(done["people_erased"], expected["people_erased"]);
    assert_eq!(found(&mut conn), Vec::<(String, String)>::new());
    app.get(&format!("/v1/people/{}", case.person), &app.admin())
        .await
        .problem(410, "gone");
    let tombstone: Count = diesel::sql_query(format!(
        "SELECT COUNT(*) AS n FROM people WHERE id = '{}' AND erased_by = 'system:purge'
         AND erasure_reason = 'retention'",
        case.person
    ))
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(tombstone.n, 1);
    // The old referral is blank but its person stays (another referral is open).
    let blank = ok(app.get(&format!("/v1/referrals/{old}"), &staff).await);
    assert_eq!(blank.body["status_reason"], Value::Null);
    assert_eq!(blank.body["summary"], Value::Null);
    // Its copy of the person as sent is blank too; their own record stays whole.
    assert_eq!(blank.body["person"]["given_name"], "");
    let person = id_at(&blank.body, "person_id");
    let record = ok(app.get(&format!("/v1/people/{person}"), &staff).await);
    assert_eq!(record.body["given_name"], "Mixed");
    let kept = ok(app.get(&format!("/v1/referrals/{open}"), &staff).await);
    assert_eq!(kept.body["summary"], referral_body("x")["summary"]);
    let whole = ok(app.get(&format!("/v1/referrals/{recent}"), &staff).await);
    assert_eq!(whole.body["status_reason"], "Kept whole");
    assert_eq!(case.reports().await, reports);

    let again = counts(&purge(app, &[], None));
    assert_eq!(
        again,
        json!({"dry_run": false, "referrals_anonymised": 0, "people_erased": 0})
    );
}

/// A referral anonymised by the purge takes nothing more: a purge clears a referral once, so
/// anything written under it afterwards (a partner's note on a connection still open, a
/// staff correction) would be kept for ever. The partner no longer reads the shared plan.
#[tokio::test]
async fn after_the_purge_nothing_more_is_written_under_an_anonymised_referral() {
    let case = Case::new().await;
    let app = &case.app;
    let staff = app.coordinator();
    // A newer referral of the same person, still open: the purge anonymises the old ones
    // and keeps the person.
    let mut body = referral_body("ZQ-NEWER");
    body["person"]["nhs_number"] = json!(nhs_number(9_434_765_910));
    body["person"]["given_name"] = json!("Zqgiven");
    body["person"]["family_name"] = json!("Zqfamily");
    body["person"]["date_of_birth"] = json!("1950-02-28");
    let newer = ok(app.refer(&app.referrer(case.org), &body).await).id();
    let connection = format!("/v1/connections/{}", case.connection);
    // A link issued to a receiver without a login, before the purge, and not yet used.
    let link = ok(app
        .post(&format!("{connection}/action-links"), &staff, &json!({}))
        .await);
    let before = etag_of(app, &connection).await;
    let mut conn = app.db();
    for referral in [case.referral, case.self_referral] {
        rewind(&mut conn, referral, 9);
    }
    let done = counts(&purge(app, &[], None));
    assert_eq!(
        done,
        json!({"dry_run": false, "referrals_anonymised": 2, "people_erased": 0})
    );
    // Every row the purge cleared moved on: a save read before it cannot write text back.
    assert_eq!(etag_of(app, &connection).await, before + 1);
    // The connection is still the partner's to see (codes and dates), and still open.
    let seen = ok(app.get(&connection, &case.partner).await);
    assert_eq!(seen.body["status"], "in_progress");
    assert_eq!(seen.body["recorded_on_behalf_of"], Value::Null);

    for path in ["plan", "plan/goals", "plan/progress-notes"] {
        app.get(&format!("{connection}/{path}"), &case.partner)
            .await
            .problem(409, "referral_anonymised");
    }
    app.post(
        &format!("{connection}/plan/progress-notes"),
        &case.partner,
        &json!({"goal_id": case.goal, "text": "Zqlate progress"}),
    )
    .await
    .problem(409, "referral_anonymised");
    app.post(
        &format!("{connection}/notes"),
        &case.partner,
        &json!({"text": "Zqlate note"}),
    )
    .await
    .problem(409, "referral_anonymised");
    let version = etag_of(app, &connection).await;
    app.change(
        Method::POST,
        &format!("{connection}/transitions"),
        &case.partner,
        version,
        Some(&json!({"to": "cancelled", "reason_code": "other", "reason": "Zqlate reason"})),
    )
    .await
    .problem(409, "referral_anonymised");
    let session = format!("/v1/sessions/{}", case.session);
    let version = etag_of(app, &session).await;
    app.change(
        Method::PATCH,
        &session,
        &staff,
        version,
        Some(&json!({"notes": "Zqlate session"})),
    )
    .await
    .problem(409, "referral_anonymised");
    let goal = format!("/v1/goals/{}", case.goal);
    let version = etag_of(app, &goal).await;
    app.change(
        Method::PATCH,
        &goal,
        &staff,
        version,
        Some(&json!({"description": "Zqlate goal"})),
    )
    .await
    .problem(409, "referral_anonymised");
    let referral = format!("/v1/referrals/{}", case.referral);
    let version = etag_of(app, &referral).await;
    app.change(
        Method::POST,
        &format!("{referral}/consent"),
        &staff,
        version,
        Some(
            &json!({"status": "withdrawn", "scope": "sharing_with_partners",
                     "reason": "Zqlate consent"}),
        ),
    )
    .await
    .problem(409, "referral_anonymised");
    app.post(&format!("{connection}/action-links"), &staff, &json!({}))
        .await
        .problem(409, "referral_anonymised");
    // Only those who may see a record learn it was anonymised: to another organisation it is
    // as missing as any other.
    let stranger = app.organisation("Stranger", "partner").await;
    app.post(
        &format!("{connection}/notes"),
        &app.token(Role::Partner, Some(stranger)),
        &json!({"text": "Zqlate stranger"}),
    )
    .await
    .problem(404, "not_found");
    let other_practice = app.organisation("Other practice", "gp_practice").await;
    let version = etag_of(app, &format!("/v1/referrals/{}", case.referral)).await;
    let withdraw = json!({"to": "withdrawn", "reason": "Zqlate withdrawal"});
    app.transition(
        case.referral,
        &app.referrer(other_practice),
        version,
        &withdraw,
    )
    .await
    .problem(404, "not_found");
    app.transition(case.referral, &app.referrer(case.org), version, &withdraw)
        .await
        .problem(409, "referral_anonymised");
    let answer = app
        .client
        .post(app.url(&format!(
            "{}/transitions",
            link.body["path"].as_str().unwrap()
        )))
        .header("action-token", link.body["token"].as_str().unwrap())
        .json(&json!({"to": "failed", "outcome": "other", "reason": "Zqlate link"}))
        .send()
        .await
        .unwrap();
    Reply::from_response(answer)
        .await
        .problem(409, "referral_anonymised");
    // A request still unanswered when its referral was anonymised is left as it is by the
    // expiry: expiring it would keep the person's shared details again.
    let requested = format!(
        "UPDATE connections SET status = 'requested' WHERE id = '{}'",
        case.connection
    );
    diesel::sql_query(requested).execute(&mut conn).unwrap();
    let later = Utc::now() + Duration::days(15);
    let expired = linkwell_api::expiry::run_once(&mut conn, later, Duration::days(14)).unwrap();
    assert_eq!(expired, 0);
    let kept: Count = diesel::sql_query(format!(
        "SELECT COUNT(*) AS n FROM connections WHERE id = '{}' AND status = 'requested'
         AND frozen_details IS NULL",
        case.connection
    ))
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(kept.n, 1);

    let late: Count = diesel::sql_query(
        "SELECT (SELECT COUNT(*) FROM connection_notes WHERE text LIKE 'Zqlate%')
              + (SELECT COUNT(*) FROM goal_progress_notes WHERE text LIKE 'Zqlate%')
              + (SELECT COUNT(*) FROM sessions WHERE notes LIKE 'Zqlate%')
              + (SELECT COUNT(*) FROM goals WHERE description LIKE 'Zqlate%')
              + (SELECT COUNT(*) FROM consent_records WHERE reason LIKE 'Zqlate%')
              + (SELECT COUNT(*) FROM connections WHERE reason LIKE 'Zqlate%') AS n",
    )
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(late.n, 0);
    // The refusals are in the trail, against the connection.
    let refused: Count = diesel::sql_query(format!(
        "SELECT COUNT(*) AS n FROM audit_events WHERE outcome = 'conflict'
         AND resource_id = '{}'",
        case.connection
    ))
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(refused.n, 8);
    // The person's open referral takes work as before.
    ok(app.get(&format!("/v1/referrals/{newer}"), &staff).await);
}

/// A change that passed the access gate just before an erasure is checked again under the
/// writers' lock: it waits behind the erasure, then is refused, and writes nothing back.
#[tokio::test]
async fn a_write_racing_an_erasure_waits_and_is_refused() {
    let case = Case::new().await;
    let app = &case.app;
    let version = etag_of(app, &format!("/v1/referrals/{}", case.referral)).await;
    let mut raw = app.db();
    // Holds the referral's writers' lock (SQLite: the one write lock) while both requests
    // arrive, so the erasure is queued first and the note passes the gate before it commits.
    let hold = if backend() == "postgres" {
        format!(
            "SELECT id FROM referrals WHERE id = '{}' FOR NO KEY UPDATE",
            case.referral
        )
    } else {
        "UPDATE feed_clock SET last = last".to_owned()
    };
    let begin = if backend() == "postgres" {
        "BEGIN"
    } else {
        "BEGIN IMMEDIATE"
    };
    diesel::sql_query(begin).execute(&mut raw).unwrap();
    diesel::sql_query(hold).execute(&mut raw).unwrap();
    let request = |path: String, body: Value| {
        let client = app.client.clone();
        let url = app.url(&path);
        let token = app.admin();
        tokio::spawn(async move {
            Reply::from_response(
                client
                    .post(url)
                    .bearer_auth(token)
                    .header("if-match", format!("\"{version}\""))
                    .json(&body)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        })
    };
    let erasure = request(
        format!("/v1/people/{}/erasure", case.person),
        json!({"reason": "Asked"}),
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // A consent act at the version read before: without the check under the lock it would
    // be refused as stale (412), or on a slower erasure written past it.
    let consent = request(
        format!("/v1/referrals/{}/consent", case.referral),
        json!({"status": "given", "scope": "sharing_with_partners", "reason": "Zqconsent late"}),
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    diesel::sql_query("COMMIT").execute(&mut raw).unwrap();
    let erasure = erasure.await.unwrap();
    assert_eq!(erasure.status, 200, "{}", erasure.text);
    consent.await.unwrap().problem(404, "not_found");
    assert_eq!(found(&mut raw), Vec::<(String, String)>::new());
}
