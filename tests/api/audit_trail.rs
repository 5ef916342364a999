//! The audit trail read back (`GET /v1/audit-events`): each row names the person and referral
//! it concerns, so a person's filter finds every access to their data; one row per audited
//! request, refusals included; filters validated; rows append-only.

use chrono::{Duration, SecondsFormat, Utc};
use diesel::RunQueryDsl;
use linkwell_api::access;
use linkwell_domain::Role;
use linkwell_persistence::{audit, migrate};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Reply, TestApp, referral_body};

fn at(offset: Duration) -> String {
    (Utc::now() + offset).to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn request_id(reply: &Reply) -> String {
    reply.header("x-request-id").unwrap().to_owned()
}

/// A referral with one record of every kind under it.
struct World {
    app: TestApp,
    partner_org: Uuid,
    referral: Uuid,
    person: Uuid,
    session: Uuid,
    goal: Uuid,
    connection: Uuid,
    outcome: Uuid,
}

fn session_body() -> Value {
    json!({"kind": "coaching", "mode": "face_to_face", "scheduled_at": at(Duration::days(2))})
}

fn outcome_body(timepoint: &str) -> Value {
    json!({"instrument": "swemwbs", "timepoint": timepoint, "recorded_at": at(Duration::zero()),
           "answers": [3, 3, 3, 3, 3, 3, 3]})
}

fn consent_body() -> Value {
    json!({"status": "given", "scope": "sharing_with_partners"})
}

impl World {
    async fn new() -> Self {
        let app = TestApp::spawn().await;
        let org = app.organisation("Practice", "gp_practice").await;
        let partner_org = app.organisation("Partner", "partner").await;
        let referral = app.accepted(org, "AT-1").await;
        let staff = app.coordinator();
        let read = app.get(&format!("/v1/referrals/{referral}"), &staff).await;
        let person = Uuid::parse_str(read.body["person_id"].as_str().unwrap()).unwrap();
        let under = |tail: &str| format!("/v1/referrals/{referral}/{tail}");
        let made = |reply: Reply| {
            assert!(reply.status.is_success(), "{}", reply.text);
            reply
        };
        let session = made(app.post(&under("sessions"), &staff, &session_body()).await).id();
        made(
            app.send(
                Method::PUT,
                &under("plan"),
                &staff,
                Some(&json!({"what_matters": "Company"})),
                &[],
            )
            .await,
        );
        let goal = made(
            app.post(
                &under("plan/goals"),
                &staff,
                &json!({"description": "Go to the Tuesday lunch club"}),
            )
            .await,
        )
        .id();
        let connection = made(
            app.post(
                &under("connections"),
                &staff,
                &json!({"organisation_id": partner_org, "need": "money_and_benefits",
                        "consent_to_share": true, "shared_fields": []}),
            )
            .await,
        )
        .id();
        let outcome = made(
            app.post(&under("outcomes"), &staff, &outcome_body("baseline"))
                .await,
        )
        .id();
        made(
            app.change(
                Method::POST,
                &under("consent"),
                &staff,
                2,
                Some(&consent_body()),
            )
            .await,
        );
        Self {
            app,
            partner_org,
            referral,
            person,
            session,
            goal,
            connection,
            outcome,
        }
    }

    /// One request performing operation `id` (its outcome may be a refusal: what matters is
    /// that it reaches the rules that decide it). Panics for an operation it does not know,
    /// so a new audited operation must be added here.
    async fn perform(&self, id: &str) -> Reply {
        let app = &self.app;
        let staff = app.coordinator();
        let (r, p, s, g, c, o) = (
            self.referral,
            self.person,
            self.session,
            self.goal,
            self.connection,
            self.outcome,
        );
        let stale = |method: Method, path: String, body: Option<Value>| async move {
            app.change(method, &path, &app.coordinator(), 99, body.as_ref())
                .await
        };
        match id {
            "get_person" => app.get(&format!("/v1/people/{p}"), &staff).await,
            "list_people" => app.get("/v1/people?nhs_number=9990000018", &staff).await,
            "update_person" => {
                let body = json!({"phone": "01284 654321"});
                stale(Method::PATCH, format!("/v1/people/{p}"), Some(body)).await
            }
            "merge_people" => {
                let body = json!({"duplicate_id": Uuid::now_v7()});
                stale(Method::POST, format!("/v1/people/{p}/merge"), Some(body)).await
            }
            "dismiss_duplicate" => {
                stale(
                    Method::POST,
                    format!("/v1/people/{p}/dismiss-duplicate"),
                    None,
                )
                .await
            }
            "create_self_referral" => {
                let body = json!({
                    "person": {"given_name": "Alex", "family_name": "Reed",
                               "date_of_birth": "1990-05-01", "phone": "07700 900456",
                               "postcode": "IP33 1AA"},
                    "reasons": ["loneliness"], "consent_to_share": true,
                    "preferred_contact": "text",
                    "summary": "I have been on my own since moving here."
                });
                app.call(Method::POST, "/v1/self-referrals", None, Some(&body))
                    .await
            }
            "create_referral" => app.refer(&staff, &referral_body("AT-2")).await,
            "list_referrals" => app.get("/v1/referrals", &staff).await,
            "get_referral" => app.get(&format!("/v1/referrals/{r}"), &staff).await,
            "transition_referral" => {
                let body = json!({"to": "active"});
                stale(
                    Method::POST,
                    format!("/v1/referrals/{r}/transitions"),
                    Some(body),
                )
                .await
            }
            "update_referral" => {
                let body = json!({"summary": "Lives alone."});
                stale(Method::PATCH, format!("/v1/referrals/{r}"), Some(body)).await
            }
            "assign_referral" => {
                let body = json!({"user_id": Uuid::now_v7()});
                stale(
                    Method::PUT,
                    format!("/v1/referrals/{r}/assignee"),
                    Some(body),
                )
                .await
            }
            "unassign_referral" => {
                stale(Method::DELETE, format!("/v1/referrals/{r}/assignee"), None).await
            }
            "create_action_link" => {
                let path = format!("/v1/connections/{c}/action-links");
                app.post(&path, &staff, &json!({})).await
            }
            // A token that names no link: refused, and the refusal is audited.
            "read_action_link" => {
                let path = format!("/v1/action-links/{}", Uuid::now_v7());
                app.call(Method::GET, &path, None, None).await
            }
            "answer_action_link" => {
                let path = format!("/v1/action-links/{}/transitions", Uuid::now_v7());
                app.call(Method::POST, &path, None, Some(&json!({"to": "accepted"})))
                    .await
            }
            "hand_over_referral" => {
                let body = json!({"team_id": Uuid::now_v7(), "reason": "Moved"});
                let path = format!("/v1/referrals/{r}/handover");
                stale(Method::POST, path, Some(body)).await
            }
            "get_referral_history" => app.get(&format!("/v1/referrals/{r}/history"), &staff).await,
            "record_consent" => {
                let path = format!("/v1/referrals/{r}/consent");
                stale(Method::POST, path, Some(consent_body())).await
            }
            "list_consent" => app.get(&format!("/v1/referrals/{r}/consent"), &staff).await,
            "create_session" => {
                app.post(
                    &format!("/v1/referrals/{r}/sessions"),
                    &staff,
                    &session_body(),
                )
                .await
            }
            "list_referral_sessions" => {
                app.get(&format!("/v1/referrals/{r}/sessions"), &staff)
                    .await
            }
            "get_session" => app.get(&format!("/v1/sessions/{s}"), &staff).await,
            "update_session" => {
                let body = json!({"notes": null});
                stale(Method::PATCH, format!("/v1/sessions/{s}"), Some(body)).await
            }
            "get_plan" => app.get(&format!("/v1/referrals/{r}/plan"), &staff).await,
            "put_plan" => {
                let body = json!({"what_matters": "Singing"});
                stale(Method::PUT, format!("/v1/referrals/{r}/plan"), Some(body)).await
            }
            "create_goal" => {
                let body = json!({"description": "Join the choir"});
                app.post(&format!("/v1/referrals/{r}/plan/goals"), &staff, &body)
                    .await
            }
            "list_goals" => {
                app.get(&format!("/v1/referrals/{r}/plan/goals"), &staff)
                    .await
            }
            "get_goal" => app.get(&format!("/v1/goals/{g}"), &staff).await,
            "update_goal" => {
                let body = json!({"status": "active"});
                stale(Method::PATCH, format!("/v1/goals/{g}"), Some(body)).await
            }
            "create_connection" => {
                let body = json!({"organisation_id": self.partner_org, "need": "loneliness",
                                  "consent_to_share": true, "shared_fields": []});
                app.post(&format!("/v1/referrals/{r}/connections"), &staff, &body)
                    .await
            }
            "list_referral_connections" => {
                app.get(&format!("/v1/referrals/{r}/connections"), &staff)
                    .await
            }
            "list_connections" => app.get("/v1/connections", &staff).await,
            "get_connection" => app.get(&format!("/v1/connections/{c}"), &staff).await,
            "transition_connection" => {
                let body = json!({"to": "accepted"});
                let partner = app.token(Role::Partner, Some(self.partner_org));
                let path = format!("/v1/connections/{c}/transitions");
                app.change(Method::POST, &path, &partner, 99, Some(&body))
                    .await
            }
            "create_connection_note" => {
                let body = json!({"text": "Hello"});
                app.post(&format!("/v1/connections/{c}/notes"), &staff, &body)
                    .await
            }
            "list_connection_notes" => app.get(&format!("/v1/connections/{c}/notes"), &staff).await,
            "add_group_attendee" => {
                let path = format!("/v1/group-sessions/{}/attendees", Uuid::now_v7());
                app.post(&path, &staff, &json!({"referral_id": r})).await
            }
            "list_group_attendees" => {
                let path = format!("/v1/group-sessions/{}/attendees", Uuid::now_v7());
                app.get(&path, &staff).await
            }
            "mark_group_attendance" => {
                let path = format!("/v1/group-sessions/{}/attendees/{r}", Uuid::now_v7());
                let body = json!({"attendance": "attended"});
                app.send(Method::PUT, &path, &staff, Some(&body), &[]).await
            }
            "remove_group_attendee" => {
                let path = format!("/v1/group-sessions/{}/attendees/{r}", Uuid::now_v7());
                app.call(Method::DELETE, &path, Some(&staff), None).await
            }
            "get_shared_plan" => app.get(&format!("/v1/connections/{c}/plan"), &staff).await,
            "list_shared_goals" => {
                app.get(&format!("/v1/connections/{c}/plan/goals"), &staff)
                    .await
            }
            "create_progress_note" => {
                let body = json!({"goal_id": g, "text": "Went to the choir"});
                let path = format!("/v1/connections/{c}/plan/progress-notes");
                app.post(&path, &staff, &body).await
            }
            "list_connection_progress_notes" => {
                let path = format!("/v1/connections/{c}/plan/progress-notes");
                app.get(&path, &staff).await
            }
            "list_goal_progress_notes" => {
                app.get(&format!("/v1/goals/{g}/progress-notes"), &staff)
                    .await
            }
            "create_outcome" => {
                let path = format!("/v1/referrals/{r}/outcomes");
                app.post(&path, &staff, &outcome_body("review")).await
            }
            "list_outcomes" => {
                app.get(&format!("/v1/referrals/{r}/outcomes"), &staff)
                    .await
            }
            "get_outcome" => app.get(&format!("/v1/outcomes/{o}"), &staff).await,
            "enter_outcome_in_error" => {
                let body = json!({"reason": "Typed against the wrong person"});
                let path = format!("/v1/outcomes/{o}/entered-in-error");
                stale(Method::POST, path, Some(body)).await
            }
            "list_audit_events" => app.get("/v1/audit-events", &app.admin()).await,
            // Refused while the referral is open: the refusal is audited like a success.
            "erase_person" => {
                let body = json!({"reason": "Subject asked"});
                app.post(&format!("/v1/people/{p}/erasure"), &app.admin(), &body)
                    .await
            }
            "export_person" => {
                app.get(&format!("/v1/people/{p}/export"), &app.admin())
                    .await
            }
            "create_api_client" => {
                let body = json!({"name": "Case system", "role": "coordinator"});
                app.post("/v1/api-clients", &app.admin(), &body).await
            }
            "revoke_api_client" => {
                let path = format!("/v1/api-clients/{}", Uuid::now_v7());
                app.call(Method::DELETE, &path, Some(&app.admin()), None)
                    .await
            }
            "create_user_identity" => {
                let body = json!({"issuer": "https://idp.example.org", "subject": "someone"});
                let path = format!("/v1/users/{}/identities", Uuid::now_v7());
                app.post(&path, &app.admin(), &body).await
            }
            "delete_user_identity" => {
                let path = format!("/v1/users/{}/identities/{}", Uuid::now_v7(), Uuid::now_v7());
                app.call(Method::DELETE, &path, Some(&app.admin()), None)
                    .await
            }
            "create_token" => {
                let body = json!({"name": "Token system", "role": "coordinator"});
                let made = app.post("/v1/api-clients", &app.admin(), &body).await;
                let form = [
                    ("grant_type", "client_credentials"),
                    ("client_id", made.body["client_id"].as_str().unwrap()),
                    (
                        "client_secret",
                        made.body["client_secret"].as_str().unwrap(),
                    ),
                ];
                let request = app.client.post(app.url("/v1/auth/token")).form(&form);
                Reply::from_response(request.send().await.unwrap()).await
            }
            other => panic!("no request for audited operation {other}: add one here"),
        }
    }

    /// The trail as an admin reads it with `query`.
    async fn trail(&self, query: &str) -> Reply {
        let reply = self
            .app
            .get(&format!("/v1/audit-events?{query}"), &self.app.admin())
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply
    }
}

/// The `(action, outcome)` of every row a request wrote.
fn rows_of(events: &[audit::AuditEvent], reply: &Reply) -> Vec<(String, String)> {
    let id = request_id(reply);
    events
        .iter()
        .filter(|e| e.request_id == id)
        .map(|e| (e.action.clone(), e.outcome.clone()))
        .collect()
}

#[tokio::test]
async fn every_audited_request_writes_exactly_one_row_refusals_included() {
    let w = World::new().await;
    let mut asked = Vec::new();
    for op in access::ALL.iter().filter(|op| op.audited) {
        let reply = w.perform(op.id).await;
        assert!(
            !reply.status.is_server_error() && reply.status != 401,
            "{}: {}",
            op.id,
            reply.text
        );
        asked.push((op.id, op.action, reply));
    }
    // Refused: a role the operation does not admit, and a partner asking for a connection
    // addressed to another partner.
    let commissioner = w.app.token(Role::Commissioner, None);
    let wrong_role = w
        .app
        .get(&format!("/v1/referrals/{}", w.referral), &commissioner)
        .await;
    wrong_role.problem(403, "forbidden");
    let other_partner = w.app.member(Role::Partner).await;
    let not_theirs = w
        .app
        .get(&format!("/v1/connections/{}", w.connection), &other_partner)
        .await;
    not_theirs.problem(404, "not_found");
    let trail_refused = w.app.get("/v1/audit-events", &w.app.coordinator()).await;
    trail_refused.problem(403, "forbidden");
    // Without a token that verifies: refused as unauthenticated, named by address.
    let referral_path = format!("/v1/referrals/{}", w.referral);
    let forged = w.app.get(&referral_path, "not.a.token").await;
    forged.problem(401, "unauthorized");
    let tokenless = w.app.call(Method::GET, &referral_path, None, None).await;
    tokenless.problem(401, "unauthorized");
    // An operation the trail does not cover leaves no row for a 401 either.
    let unaudited = w.app.call(Method::GET, "/v1/api-clients", None, None).await;
    unaudited.problem(401, "unauthorized");

    // A refusal for want of a token is recorded beside its answer, not before it.
    let mut events = audit::recent(&mut w.app.db(), 10_000).unwrap();
    for _ in 0..50 {
        if [&forged, &tokenless]
            .iter()
            .all(|r| !rows_of(&events, r).is_empty())
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
        events = audit::recent(&mut w.app.db(), 10_000).unwrap();
    }
    for (id, action, reply) in &asked {
        let rows = rows_of(&events, reply);
        assert_eq!(rows.len(), 1, "{id}: {rows:?} {}", reply.text);
        assert_eq!(rows[0].0, *action, "{id}");
    }
    assert_eq!(
        rows_of(&events, &wrong_role),
        [("referral.read".to_owned(), "forbidden".to_owned())]
    );
    assert_eq!(
        rows_of(&events, &not_theirs),
        [("connection.read".to_owned(), "not_found".to_owned())]
    );
    assert_eq!(
        rows_of(&events, &trail_refused),
        [("audit.list".to_owned(), "forbidden".to_owned())]
    );
    for refused in [&forged, &tokenless] {
        assert_eq!(
            rows_of(&events, refused),
            [("referral.read".to_owned(), "unauthenticated".to_owned())]
        );
        let row = events
            .iter()
            .find(|e| e.request_id == request_id(refused))
            .unwrap();
        assert_eq!(row.actor_sub, "anonymous@127.0.0.1");
        assert_eq!(row.actor_role, "anonymous");
    }
    assert_eq!(rows_of(&events, &unaudited), []);
    // Refusals name whom they concern too.
    for refused in [&wrong_role, &not_theirs, &forged, &tokenless] {
        let row = events
            .iter()
            .find(|e| e.request_id == request_id(refused))
            .unwrap();
        assert_eq!(
            (row.person_id, row.referral_id),
            (Some(w.person), Some(w.referral))
        );
    }
}

#[tokio::test]
async fn a_persons_filter_finds_every_kind_of_access_to_their_data() {
    let w = World::new().await;
    let app = &w.app;
    let staff = app.coordinator();
    // Someone else's referral: their accesses must not show in this person's trail.
    let org = app.organisation("Elsewhere", "gp_practice").await;
    let mut other_body = referral_body("AT-9");
    other_body["person"]["nhs_number"] = json!("999 000 0026");
    other_body["person"]["given_name"] = json!("Kim");
    other_body["person"]["family_name"] = json!("Other");
    let other = app.refer(&app.referrer(org), &other_body).await.id();
    let elsewhere = app.get(&format!("/v1/referrals/{other}"), &staff).await;
    assert_eq!(elsewhere.status, 200);

    let partner = app.token(Role::Partner, Some(w.partner_org));
    let reads = [
        (
            "person.read",
            app.get(&format!("/v1/people/{}", w.person), &staff).await,
        ),
        (
            "referral.read",
            app.get(&format!("/v1/referrals/{}", w.referral), &staff)
                .await,
        ),
        (
            "session.read",
            app.get(&format!("/v1/sessions/{}", w.session), &staff)
                .await,
        ),
        (
            "plan.read",
            app.get(&format!("/v1/referrals/{}/plan", w.referral), &staff)
                .await,
        ),
        (
            "goal.read",
            app.get(&format!("/v1/goals/{}", w.goal), &staff).await,
        ),
        (
            "connection.read",
            app.get(&format!("/v1/connections/{}", w.connection), &partner)
                .await,
        ),
        (
            "outcome.read",
            app.get(&format!("/v1/outcomes/{}", w.outcome), &staff)
                .await,
        ),
        (
            "referral.read_consent",
            app.get(&format!("/v1/referrals/{}/consent", w.referral), &staff)
                .await,
        ),
        (
            "session.list",
            app.get(&format!("/v1/referrals/{}/sessions", w.referral), &staff)
                .await,
        ),
    ];
    for (action, reply) in &reads {
        assert_eq!(reply.status, 200, "{action}: {}", reply.text);
    }

    let trail = w.trail(&format!("person_id={}&limit=100", w.person)).await;
    let items = trail.body["items"].as_array().unwrap();
    for (action, reply) in &reads {
        let found: Vec<&Value> = items
            .iter()
            .filter(|e| e["request_id"] == json!(request_id(reply)))
            .collect();
        assert_eq!(found.len(), 1, "{action}");
        let event = found[0];
        assert_eq!(event["action"], json!(action));
        assert_eq!(event["outcome"], "success");
        assert_eq!(event["person_id"], json!(w.person));
        let referral = if *action == "person.read" {
            Value::Null
        } else {
            json!(w.referral)
        };
        assert_eq!(event["referral_id"], referral, "{action}");
    }
    // Every row found concerns this person, and none of the other person's.
    assert!(items.iter().all(|e| e["person_id"] == json!(w.person)));
    assert!(
        !items
            .iter()
            .any(|e| e["request_id"] == json!(request_id(&elsewhere)))
    );
    // The writes that made the records are in it too, each naming its record.
    let created: Vec<(&str, &Value)> = items
        .iter()
        .filter(|e| e["action"].as_str().unwrap().ends_with(".create"))
        .map(|e| (e["action"].as_str().unwrap(), &e["resource_id"]))
        .collect();
    for (action, id) in [
        ("referral.create", w.referral),
        ("session.create", w.session),
        ("goal.create", w.goal),
        ("connection.create", w.connection),
        ("outcome.create", w.outcome),
    ] {
        assert!(
            created.contains(&(action, &json!(id))),
            "{action}: {created:?}"
        );
    }
    // The partner's read shows as theirs.
    let partner_row = items
        .iter()
        .find(|e| e["request_id"] == json!(request_id(&reads[5].1)))
        .unwrap();
    assert_eq!(partner_row["actor_role"], "partner");
    assert_eq!(partner_row["actor_org_id"], json!(w.partner_org));
    assert_eq!(partner_row["resource_type"], "connection");
    assert_eq!(partner_row["resource_id"], json!(w.connection));

    // By referral: the same accesses but the person's record read.
    let by_referral = w
        .trail(&format!("referral_id={}&limit=100", w.referral))
        .await;
    let by_referral = by_referral.body["items"].as_array().unwrap();
    assert!(
        by_referral
            .iter()
            .all(|e| e["referral_id"] == json!(w.referral))
    );
    let person_read = request_id(&reads[0].1);
    assert!(
        !by_referral
            .iter()
            .any(|e| e["request_id"] == json!(person_read))
    );
    assert!(by_referral.len() >= reads.len() - 1);
}

#[tokio::test]
async fn the_trail_filters_pages_newest_first_and_audits_its_own_reading() {
    let w = World::new().await;
    let app = &w.app;
    let (user, token) = app.user(Role::Coordinator, None).await;
    let mut mine = Vec::new();
    for _ in 0..3 {
        let reply = app
            .get(&format!("/v1/referrals/{}", w.referral), &token)
            .await;
        assert_eq!(reply.status, 200);
        mine.push(request_id(&reply));
    }
    let query = format!("actor={user}&action=referral.read&limit=2");
    let first = w.trail(&query).await;
    let page: Vec<&str> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(page, [mine[2].as_str(), mine[1].as_str()], "newest first");
    let event = &first.body["items"][0];
    assert_eq!(event["actor"], json!(user.to_string()));
    assert_eq!(event["actor_role"], "coordinator");
    assert_eq!(event["resource_type"], "referral");
    assert_eq!(event["resource_ids"], json!([]));
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = w.trail(&format!("{query}&cursor={cursor}")).await;
    let rest: Vec<&str> = second.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(rest, [mine[0].as_str()]);
    assert_eq!(second.body["next_cursor"], Value::Null);
    // The cursor is bound to its filters.
    let moved = app
        .get(
            &format!("/v1/audit-events?actor={user}&limit=2&cursor={cursor}"),
            &app.admin(),
        )
        .await;
    moved.problem(400, "invalid_parameter");
    assert_eq!(
        moved.field_errors(),
        [("cursor".to_owned(), "invalid_cursor".to_owned())]
    );

    // From inclusive, to exclusive: bounded by the middle read's own instant.
    let all = w.trail(&format!("actor={user}")).await;
    let instants: Vec<String> = all.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["occurred_at"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(instants.len(), 3);
    let middle = instants[1].replace('+', "%2B");
    let from = w.trail(&format!("actor={user}&from={middle}")).await;
    assert_eq!(from.body["items"].as_array().unwrap().len(), 2);
    let to = w.trail(&format!("actor={user}&to={middle}")).await;
    assert_eq!(to.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(to.body["items"][0]["request_id"], json!(mine[0]));

    // Each read of the trail is itself a row, naming whom it was about.
    let about = w.trail(&format!("person_id={}", w.person)).await;
    let events = audit::recent(&mut app.db(), 1000).unwrap();
    let row = events
        .iter()
        .find(|e| e.request_id == request_id(&about))
        .unwrap();
    assert_eq!(
        (row.action.as_str(), row.outcome.as_str(), row.person_id),
        ("audit.list", "success", Some(w.person))
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e.request_id == request_id(&first))
            .count(),
        1
    );
}

#[tokio::test]
async fn bad_filters_are_named_and_other_roles_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let bad = app
        .get(
            "/v1/audit-events?person_id=nope&referral_id=1&from=yesterday&to=2026-13-01",
            &admin,
        )
        .await;
    bad.problem(400, "invalid_parameter");
    assert_eq!(
        bad.field_errors(),
        [
            ("person_id".to_owned(), "invalid_id".to_owned()),
            ("referral_id".to_owned(), "invalid_id".to_owned()),
            ("from".to_owned(), "invalid_date".to_owned()),
            ("to".to_owned(), "invalid_date".to_owned()),
        ]
    );
    for (query, parameter, code) in [
        ("action=Referral%20Read", "action", "invalid_action"),
        ("actor=", "actor", "invalid_actor"),
        (
            "from=2026-12-02T00:00:00Z&to=2026-12-01",
            "to",
            "empty_range",
        ),
        ("limit=0", "limit", "out_of_range"),
        ("cursor=forged.cursor", "cursor", "invalid_cursor"),
    ] {
        let reply = app.get(&format!("/v1/audit-events?{query}"), &admin).await;
        reply.problem(400, "invalid_parameter");
        assert_eq!(
            reply.field_errors(),
            [(parameter.to_owned(), code.to_owned())],
            "{query}"
        );
    }
    app.get("/v1/audit-events?colour=red", &admin)
        .await
        .problem(400, "invalid_parameter");
    for role in [
        Role::Coordinator,
        Role::Referrer,
        Role::Partner,
        Role::Commissioner,
    ] {
        let token = app.member(role).await;
        app.get("/v1/audit-events", &token)
            .await
            .problem(403, "forbidden");
    }
    let events = audit::recent(&mut app.db(), 100).unwrap();
    let refused: Vec<&str> = events
        .iter()
        .filter(|e| e.action == "audit.list")
        .map(|e| e.outcome.as_str())
        .collect();
    assert_eq!(refused, ["forbidden"; 4]);
    app.call(Method::GET, "/v1/audit-events", None, None)
        .await
        .problem(401, "unauthorized");
}

#[tokio::test]
async fn audit_rows_refuse_update_and_delete_on_a_raw_connection() {
    let w = World::new().await;
    let mut conn = w.app.db();
    let before = audit::recent(&mut conn, 1000).unwrap();
    for sql in [
        "UPDATE audit_events SET person_id = NULL",
        // Only an anonymous caller's address may be blanked (by an erasure).
        "UPDATE audit_events SET actor_sub = 'anonymous' WHERE actor_role <> 'anonymous'",
        "UPDATE audit_events SET outcome = 'tampered' WHERE action = 'referral.create'",
        "DELETE FROM audit_events",
        "DELETE FROM audit_events WHERE action = 'session.create'",
    ] {
        let refused = diesel::sql_query(sql).execute(&mut conn).unwrap_err();
        assert!(
            refused.to_string().contains("append-only"),
            "{sql}: {refused}"
        );
    }
    assert_eq!(audit::recent(&mut conn, 1000).unwrap(), before);
    assert!(before.iter().any(|e| e.person_id == Some(w.person)));
}

/// Rows written before the columns existed get the person and referral derived from the
/// record they name.
#[tokio::test]
async fn the_migration_backfills_whom_older_rows_concern() {
    let w = World::new().await;
    let mut conn = w.app.db();
    let written = audit::recent(&mut conn, 1000).unwrap();
    migrate::revert_through(&mut conn, "2026-12-05-000002").unwrap();
    migrate::run(&mut conn).unwrap();
    let backfilled = audit::recent(&mut conn, 1000).unwrap();
    assert_eq!(backfilled.len(), written.len());
    for (after, before) in backfilled.iter().zip(&written) {
        assert_eq!(after.id, before.id);
        if after.resource_id.is_some() {
            // Derived from the record named, as the server derives it when writing.
            assert_eq!(
                (after.person_id, after.referral_id),
                (before.person_id, before.referral_id),
                "{}",
                after.action
            );
        }
    }
    let session_read = backfilled
        .iter()
        .find(|e| e.action == "session.create")
        .unwrap();
    assert_eq!(
        (session_read.person_id, session_read.referral_id),
        (Some(w.person), Some(w.referral))
    );
}
