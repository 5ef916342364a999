//! Connections: staff refer the person on; the receiving partner sees only what is addressed
//! to it, with only the consented details, and moves it along; signposts are final; requests
//! left unanswered expire, once, however many instances run the expiry.

use std::collections::BTreeSet;

use chrono::{Duration, SecondsFormat, Utc};
use linkwell_domain::Role;
use linkwell_persistence::audit;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Reply, TestApp, referral_body};

/// A referral engaged with the service, two partners, and directory entries.
struct World {
    app: TestApp,
    referral: Uuid,
    partner_a: Uuid,
    partner_b: Uuid,
    /// Run by partner A; takes connections.
    advice: Uuid,
    /// Signposting only.
    walks: Uuid,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let practice = app.organisation("Practice", "gp_practice").await;
    let partner_a = app.organisation("Citizens Advice", "partner").await;
    let partner_b = app.organisation("Housing Support", "agency").await;
    // The person gave no address: a consented detail the record lacks.
    let mut body = referral_body("C-1");
    body["person"].as_object_mut().unwrap().remove("address");
    let referral = app.refer(&app.referrer(practice), &body).await.id();
    let accepted = app
        .transition(referral, &app.coordinator(), 1, &json!({"to": "accepted"}))
        .await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    let service = |name: &str, org: Option<Uuid>, accepts: bool| {
        let app = &app;
        let body = json!({"name": name, "description": "Help.", "needs": ["money_and_benefits"],
                          "organisation_id": org, "accepts_referrals": accepts});
        async move {
            let reply = app
                .post("/v1/directory/services", &app.admin(), &body)
                .await;
            assert_eq!(reply.status, 201, "{}", reply.text);
            reply.id()
        }
    };
    let advice = service("Debt advice", Some(partner_a), true).await;
    let walks = service("Health walks", None, false).await;
    World {
        app,
        referral,
        partner_a,
        partner_b,
        advice,
        walks,
    }
}

impl World {
    fn partner(&self, org: Uuid) -> String {
        self.app.token(Role::Partner, Some(org))
    }

    async fn connect(&self, body: &Value) -> Reply {
        self.app
            .post(
                &format!("/v1/referrals/{}/connections", self.referral),
                &self.app.coordinator(),
                body,
            )
            .await
    }

    /// A requested connection to `org`; returns its id.
    async fn requested(&self, org: Uuid, shared: &[&str]) -> Uuid {
        let reply = self
            .connect(
                &json!({"organisation_id": org, "need": "money_and_benefits",
                             "consent_to_share": true, "shared_fields": shared}),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        assert_eq!(reply.body["status"], "requested");
        reply.id()
    }

    async fn transition(&self, id: Uuid, token: &str, version: i64, body: Value) -> Reply {
        let path = format!("/v1/connections/{id}/transitions");
        self.app
            .change(Method::POST, &path, token, version, Some(&body))
            .await
    }
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn ids(reply: &Reply) -> Vec<String> {
    reply.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {}", reply.text))
        .iter()
        .map(|c| c["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn the_loop_closes_from_request_to_outcome() {
    let w = world().await;
    let app = &w.app;
    let staff = app.coordinator();
    let made = w
        .connect(
            &json!({"service_id": w.advice, "need": "money_and_benefits",
                         "note_for_partner": "Rent arrears since March.", "consent_to_share": true,
                         "shared_fields": ["given_name", "phone"]}),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let id = made.id();
    assert_eq!(
        made.header("location"),
        Some(format!("/v1/connections/{id}").as_str())
    );
    assert_eq!(made.header("etag"), Some("\"1\""));
    assert_eq!(
        made.body["organisation_id"],
        json!(w.partner_a),
        "the service's organisation"
    );
    assert_eq!(made.body["referral_id"], json!(w.referral));
    assert_eq!(
        made.body["person"],
        json!({"given_name": "Sam", "phone": "01284 123456"})
    );

    // The partner polls, finds it, accepts, works on it and completes it.
    let partner = w.partner(w.partner_a);
    let mine = app.get("/v1/connections", &partner).await;
    assert_eq!(ids(&mine), [id.to_string()]);
    let item = &mine.body["items"][0];
    assert_eq!(item["note_for_partner"], "Rent arrears since March.");
    assert!(item.get("referral_id").is_none() && item.get("created_by").is_none());
    let accepted = w
        .transition(id, &partner, 1, json!({"to": "accepted"}))
        .await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    assert_eq!(accepted.header("etag"), Some("\"2\""));
    let working = w
        .transition(id, &partner, 2, json!({"to": "in_progress"}))
        .await;
    assert_eq!(working.body["status"], "in_progress");
    let note = app
        .post(
            &format!("/v1/connections/{id}/notes"),
            &partner,
            &json!({"text": "Seen on Tuesday; a debt relief order is likely."}),
        )
        .await;
    assert_eq!(note.status, 201, "{}", note.text);
    assert_eq!(note.body["author_role"], "partner");
    assert_eq!(note.body["author_org_id"], json!(w.partner_a));
    let reply = app
        .post(
            &format!("/v1/connections/{id}/notes"),
            &staff,
            &json!({"text": "Thank you."}),
        )
        .await;
    assert_eq!(
        (reply.status.as_u16(), &reply.body["author_org_id"]),
        (201, &json!(null))
    );
    assert_eq!(reply.body["author"], "coordinator-user");
    assert_eq!(
        note.body["author"], "partner-user",
        "a partner sees its own side's authors"
    );
    let theirs = app
        .get(&format!("/v1/connections/{id}/notes"), &partner)
        .await;
    assert!(
        theirs.body["items"][1].get("author").is_none(),
        "a partner is not told staff members' identities: {}",
        theirs.text
    );
    let incomplete = w
        .transition(id, &partner, 5, json!({"to": "completed"}))
        .await;
    incomplete.problem(422, "validation_failed");
    assert_eq!(
        incomplete.field_errors(),
        [("/outcome".to_owned(), "outcome_required".to_owned())]
    );
    w.transition(
        id,
        &partner,
        3,
        json!({"to": "completed", "outcome": "got_help"}),
    )
    .await
    .problem(412, "precondition_failed");
    let done = w
        .transition(
            id,
            &partner,
            5,
            json!({"to": "completed", "outcome": "got_help"}),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);

    // The link worker sees the outcome, on the referral and in the list.
    let seen = app.get(&format!("/v1/connections/{id}"), &staff).await;
    assert_eq!(
        (
            &seen.body["status"],
            &seen.body["outcome"],
            &seen.body["version"],
            &seen.body["created_by"]
        ),
        (
            &json!("completed"),
            &json!("got_help"),
            &json!(6),
            &json!("coordinator-user")
        )
    );
    assert_eq!(seen.body["last_note_at"], reply.body["created_at"]);
    let on_referral = app
        .get(&format!("/v1/referrals/{}/connections", w.referral), &staff)
        .await;
    assert_eq!(on_referral.body["items"], json!([seen.body]));
    let filtered = app
        .get(
            &format!(
                "/v1/connections?referral_id={}&status=completed",
                w.referral
            ),
            &staff,
        )
        .await;
    assert_eq!(ids(&filtered), [id.to_string()]);
    let notes = app
        .get(&format!("/v1/connections/{id}/notes"), &staff)
        .await;
    let texts: Vec<&Value> = notes.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| &n["text"])
        .collect();
    assert_eq!(
        texts,
        [
            &json!("Seen on Tuesday; a debt relief order is likely."),
            &json!("Thank you.")
        ]
    );
    // Final: nothing moves it now.
    let again = w
        .transition(id, &partner, 6, json!({"to": "in_progress"}))
        .await;
    again.problem(409, "invalid_transition");
    assert_eq!(again.body["current_status"], "completed");
    assert_eq!(again.body["allowed_transitions"], json!([]));
}

#[tokio::test]
async fn a_partner_sees_exactly_the_consented_details() {
    let w = world().await;
    let app = &w.app;
    let partner = w.partner(w.partner_a);
    let nothing = w.requested(w.partner_a, &[]).await;
    let some = w
        .requested(
            w.partner_a,
            &[
                "family_name",
                "date_of_birth",
                "nhs_number",
                "address",
                "preferred_contact",
            ],
        )
        .await;
    let every = w
        .requested(
            w.partner_a,
            &[
                "given_name",
                "family_name",
                "date_of_birth",
                "nhs_number",
                "phone",
                "email",
                "postcode",
                "address",
                "preferred_contact",
            ],
        )
        .await;
    let person = |id: Uuid| {
        let (app, partner) = (app, partner.clone());
        async move {
            app.get(&format!("/v1/connections/{id}"), &partner)
                .await
                .body["person"]
                .clone()
        }
    };
    assert_eq!(person(nothing).await, json!({}));
    assert_eq!(
        person(some).await,
        json!({"family_name": "Jones", "date_of_birth": "1950-02-28", "nhs_number": "9990000018",
               "address": null, "preferred_contact": "phone"}),
        "a consented detail the record lacks is null"
    );
    let all = person(every).await;
    assert_eq!(
        keys(&all),
        [
            "address",
            "date_of_birth",
            "email",
            "family_name",
            "given_name",
            "nhs_number",
            "phone",
            "postcode",
            "preferred_contact"
        ]
        .map(String::from)
        .into_iter()
        .collect()
    );
    // What a partner reads never holds the link worker's side: no referral, sessions or plan.
    let view = app.get(&format!("/v1/connections/{some}"), &partner).await;
    assert_eq!(
        keys(&view.body),
        [
            "answered_by_staff",
            "created_at",
            "id",
            "last_note_at",
            "need",
            "note_for_partner",
            "organisation_id",
            "outcome",
            "person",
            "reason",
            "reason_code",
            "recorded_on_behalf_of",
            "service_id",
            "shared_fields",
            "status",
            "updated_at",
            "version"
        ]
        .map(String::from)
        .into_iter()
        .collect()
    );
    // A referral it did not send is none of its business, exactly as a missing one.
    app.get(&format!("/v1/referrals/{}", w.referral), &partner)
        .await
        .problem(404, "not_found");
    for path in [
        format!("/v1/referrals/{}/sessions", w.referral),
        format!("/v1/referrals/{}/plan", w.referral),
        format!("/v1/referrals/{}/connections", w.referral),
        "/v1/people?nhs_number=9990000018".to_owned(),
        "/v1/users".to_owned(),
        format!("/v1/organisations/{}", w.partner_b),
    ] {
        app.get(&path, &partner).await.problem(403, "forbidden");
    }
}

#[tokio::test]
async fn partners_never_reach_each_others_connections() {
    let w = world().await;
    let app = &w.app;
    // Theirs shares the plan: what keeps partner A out is whose it is, nothing else.
    let theirs = w
        .requested(w.partner_b, &["given_name", "wellbeing_plan"])
        .await;
    let mine = w.requested(w.partner_a, &["given_name"]).await;
    let a = w.partner(w.partner_a);
    let before = app
        .get(&format!("/v1/connections/{theirs}"), &app.coordinator())
        .await;

    let request_id = "same-request-id";
    let progress = json!({"goal_id": Uuid::now_v7(), "text": "Hello"});
    let cases: [(Method, &str, Option<Value>); 8] = [
        (Method::GET, "", None),
        (
            Method::POST,
            "/transitions",
            Some(json!({"to": "accepted"})),
        ),
        (Method::POST, "/notes", Some(json!({"text": "Hello"}))),
        (Method::GET, "/notes", None),
        (Method::GET, "/plan", None),
        (Method::GET, "/plan/goals", None),
        (Method::POST, "/plan/progress-notes", Some(progress)),
        (Method::GET, "/plan/progress-notes", None),
    ];
    for (method, suffix, body) in cases {
        let send = |id: Uuid| {
            let (method, body) = (method.clone(), body.clone());
            let path = format!("/v1/connections/{id}{suffix}");
            let a = a.clone();
            async move {
                app.send(
                    method,
                    &path,
                    &a,
                    body.as_ref(),
                    &[("x-request-id", request_id), ("if-match", "\"1\"")],
                )
                .await
            }
        };
        let other = send(theirs).await;
        let missing = send(Uuid::new_v4()).await;
        assert_eq!(other.status, 404, "{method} {suffix}: {}", other.text);
        assert_eq!(
            (other.status, other.header("content-type"), &other.text),
            (
                missing.status,
                missing.header("content-type"),
                &missing.text
            ),
            "{method} {suffix}: another partner's connection looks missing"
        );
    }
    // A key used on one connection's notes is not a replay on another's.
    let key = [("idempotency-key", "note-1")];
    let body = json!({"text": "Called, no answer"});
    let on_mine = app
        .send(
            Method::POST,
            &format!("/v1/connections/{mine}/notes"),
            &a,
            Some(&body),
            &key,
        )
        .await;
    assert_eq!(on_mine.status, 201, "{}", on_mine.text);
    app.send(
        Method::POST,
        &format!("/v1/connections/{theirs}/notes"),
        &a,
        Some(&body),
        &key,
    )
    .await
    .problem(404, "not_found");
    // Nothing changed, nothing leaked into lists or the feed.
    let after = app
        .get(&format!("/v1/connections/{theirs}"), &app.coordinator())
        .await;
    assert_eq!(after.body, before.body);
    let notes = app
        .get(
            &format!("/v1/connections/{theirs}/notes"),
            &app.coordinator(),
        )
        .await;
    assert_eq!(notes.body["items"], json!([]));
    assert_eq!(
        ids(&app.get("/v1/connections", &a).await),
        [mine.to_string()]
    );
    let feed = app
        .get("/v1/connections?updated_since=2000-01-01", &a)
        .await;
    assert_eq!(ids(&feed), [mine.to_string()]);
    app.get(
        &format!("/v1/connections?organisation_id={}", w.partner_b),
        &a,
    )
    .await
    .problem(400, "invalid_parameter");
    // The audit records each refused attempt as not found, as for a missing id.
    let events = audit::recent(&mut app.db(), 1000).unwrap();
    let refused: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e.actor_role == "partner" && e.resource_id == Some(theirs))
        .map(|e| (e.action.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(refused.len(), 9, "{refused:?}");
    assert!(
        refused.iter().all(|(_, outcome)| *outcome == "not_found"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn moves_follow_the_table_and_each_side_sets_its_own() {
    let w = world().await;
    let app = &w.app;
    let staff = app.coordinator();
    let partner = w.partner(w.partner_a);
    let id = w.requested(w.partner_a, &[]).await;

    w.transition(id, &partner, 1, json!({"to": "cancelled", "reason": "x"}))
        .await
        .problem(403, "forbidden");
    w.transition(id, &staff, 1, json!({"to": "accepted"}))
        .await
        .problem(403, "forbidden");
    w.transition(id, &partner, 1, json!({"to": "expired"}))
        .await
        .problem(403, "forbidden");
    let path = format!("/v1/connections/{id}/transitions");
    app.send(
        Method::POST,
        &path,
        &partner,
        Some(&json!({"to": "accepted"})),
        &[],
    )
    .await
    .problem(428, "precondition_required");
    let early = w
        .transition(
            id,
            &partner,
            1,
            json!({"to": "completed", "outcome": "got_help"}),
        )
        .await;
    early.problem(409, "invalid_transition");
    assert_eq!(
        early.body["allowed_transitions"],
        json!(["accepted", "rejected", "cancelled", "expired"])
    );
    let unexplained = w
        .transition(id, &partner, 1, json!({"to": "rejected"}))
        .await;
    unexplained.problem(422, "validation_failed");
    assert_eq!(
        unexplained.field_errors(),
        [("/reason".to_owned(), "reason_required".to_owned())]
    );
    let stray = w
        .transition(
            id,
            &partner,
            1,
            json!({"to": "accepted", "outcome": "got_help"}),
        )
        .await;
    assert_eq!(
        stray.field_errors(),
        [("/outcome".to_owned(), "outcome_not_applicable".to_owned())]
    );

    // Staff cancel; the partner can then do nothing with it.
    let cancelled = w
        .transition(
            id,
            &staff,
            1,
            json!({"to": "cancelled", "reason_code": "no_longer_interested"}),
        )
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    assert_eq!(
        (&cancelled.body["reason_code"], &cancelled.body["reason"]),
        (&json!("no_longer_interested"), &json!(null))
    );
    w.transition(id, &partner, 2, json!({"to": "accepted"}))
        .await
        .problem(409, "invalid_transition");

    // A rejection with a code; an on-hold spell; a failure with an outcome.
    let second = w.requested(w.partner_a, &[]).await;
    let rejected = w
        .transition(
            second,
            &partner,
            1,
            json!({"to": "rejected", "reason_code": "no_capacity", "reason": "Full until May."}),
        )
        .await;
    assert_eq!(rejected.body["status"], "rejected");
    let third = w.requested(w.partner_a, &[]).await;
    for (version, body) in [
        (1, json!({"to": "accepted"})),
        (2, json!({"to": "in_progress"})),
        (3, json!({"to": "on_hold", "reason": "In hospital"})),
        (4, json!({"to": "in_progress"})),
        (
            5,
            json!({"to": "failed", "reason_code": "could_not_contact", "outcome": "could_not_contact"}),
        ),
    ] {
        let reply = w.transition(third, &partner, version, body.clone()).await;
        assert_eq!(reply.status, 200, "{body}: {}", reply.text);
    }
    let failed = app.get(&format!("/v1/connections/{third}"), &staff).await;
    assert_eq!(
        (&failed.body["status"], &failed.body["outcome"]),
        (&json!("failed"), &json!("could_not_contact"))
    );

    // Other roles never act on connections.
    for role in [Role::Referrer, Role::Commissioner] {
        let token = app.member(role).await;
        w.transition(id, &token, 2, json!({"to": "accepted"}))
            .await
            .problem(403, "forbidden");
        app.get(&format!("/v1/connections/{id}"), &token)
            .await
            .problem(403, "forbidden");
    }
}

#[tokio::test]
async fn signposts_are_final_and_not_sent_to_anyone() {
    let w = world().await;
    let app = &w.app;
    let staff = app.coordinator();
    let signpost = w
        .connect(&json!({"service_id": w.walks, "need": "healthy_lifestyle", "consent_to_share": true, "shared_fields": []}))
        .await;
    assert_eq!(signpost.status, 201, "{}", signpost.text);
    assert_eq!(
        (&signpost.body["status"], &signpost.body["organisation_id"]),
        (&json!("signposted"), &json!(null))
    );
    let id = signpost.id();
    w.transition(id, &staff, 1, json!({"to": "cancelled", "reason": "x"}))
        .await
        .problem(409, "invalid_transition");
    // A signpost to a service an organisation runs is still not addressed to it.
    app.change(
        Method::PATCH,
        &format!("/v1/directory/services/{}", w.advice),
        &staff,
        1,
        Some(&json!({"accepts_referrals": false})),
    )
    .await;
    let told = w
        .connect(&json!({"service_id": w.advice, "need": "money_and_benefits", "consent_to_share": true, "shared_fields": ["phone"]}))
        .await;
    assert_eq!(
        (&told.body["status"], &told.body["organisation_id"]),
        (&json!("signposted"), &json!(w.partner_a))
    );
    let partner = w.partner(w.partner_a);
    assert_eq!(
        ids(&app.get("/v1/connections", &partner).await),
        Vec::<String>::new()
    );
    app.get(&format!("/v1/connections/{}", told.id()), &partner)
        .await
        .problem(404, "not_found");
    let all = app.get("/v1/connections?status=signposted", &staff).await;
    assert_eq!(ids(&all).len(), 2);
}

#[tokio::test]
async fn connections_are_checked_before_anything_is_stored() {
    let w = world().await;
    let app = &w.app;
    let practice = app.organisation("Another practice", "gp_practice").await;
    let closed = app
        .post("/v1/directory/services", &app.admin(), &json!({"name": "Closed", "description": "x",
              "needs": ["family"], "accepts_referrals": true, "status": "temporarily_closed", "organisation_id": w.partner_b}))
        .await
        .id();
    let practice_run = app
        .post(
            "/v1/directory/services",
            &app.admin(),
            &json!({"name": "Practice walking group", "description": "x",
                    "needs": ["healthy_lifestyle"], "accepts_referrals": true, "organisation_id": practice}),
        )
        .await
        .id();
    let base = json!({"organisation_id": w.partner_a, "need": "money_and_benefits", "consent_to_share": true, "shared_fields": []});
    let with = |patch: Value| {
        let mut body = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    for (body, pointer, code) in [
        (
            with(json!({"consent_to_share": false})),
            "/consent_to_share",
            "consent_required",
        ),
        (with(json!({"need": "boredom"})), "/need", "unknown_code"),
        (
            with(json!({"shared_fields": ["phone", "phone"]})),
            "/shared_fields",
            "duplicate",
        ),
        (
            with(json!({"shared_fields": ["diagnosis"]})),
            "/shared_fields",
            "unknown_code",
        ),
        (
            with(json!({"organisation_id": null})),
            "/organisation_id",
            "required",
        ),
        (
            with(json!({"organisation_id": Uuid::new_v4()})),
            "/organisation_id",
            "unknown_organisation",
        ),
        (
            with(json!({"organisation_id": practice})),
            "/organisation_id",
            "not_a_receiving_organisation",
        ),
        (
            with(json!({"service_id": Uuid::new_v4()})),
            "/service_id",
            "unknown_service",
        ),
        (
            with(json!({"service_id": w.advice, "organisation_id": w.partner_b})),
            "/organisation_id",
            "not_the_service_organisation",
        ),
        (
            with(json!({"note_for_partner": " "})),
            "/note_for_partner",
            "blank",
        ),
        (
            with(json!({"organisation_id": null, "service_id": practice_run})),
            "/organisation_id",
            "not_a_receiving_organisation",
        ),
    ] {
        let reply = w.connect(&body).await;
        reply.problem(422, "validation_failed");
        assert_eq!(
            reply.field_errors(),
            [(pointer.to_owned(), code.to_owned())],
            "{body}"
        );
    }
    w.connect(&with(
        json!({"service_id": closed, "organisation_id": null}),
    ))
    .await
    .problem(409, "service_not_active");
    // Only while the referral is engaged.
    let received = app
        .refer(&app.referrer(practice), &referral_body("C-2"))
        .await
        .id();
    app.post(
        &format!("/v1/referrals/{received}/connections"),
        &app.coordinator(),
        &base,
    )
    .await
    .problem(409, "referral_not_open");
    app.post(
        &format!("/v1/referrals/{}/connections", Uuid::new_v4()),
        &app.coordinator(),
        &base,
    )
    .await
    .problem(404, "not_found");
    let all = app.get("/v1/connections", &app.admin()).await;
    assert_eq!(all.body["items"], json!([]), "nothing refused was stored");
    // A retry with the same key makes one connection.
    let key = [("idempotency-key", "connect-once")];
    let path = format!("/v1/referrals/{}/connections", w.referral);
    let first = app
        .send(Method::POST, &path, &app.coordinator(), Some(&base), &key)
        .await;
    let again = app
        .send(Method::POST, &path, &app.coordinator(), Some(&base), &key)
        .await;
    assert_eq!((first.status.as_u16(), again.status.as_u16()), (201, 201));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.body, again.body);
    assert_eq!(
        ids(&app.get("/v1/connections", &app.admin()).await).len(),
        1
    );
}

async fn poll(app: &TestApp, token: &str, cursor: Option<&str>) -> Reply {
    let cursor = cursor.map(|c| format!("&cursor={c}")).unwrap_or_default();
    let reply = app
        .get(
            &format!("/v1/connections?updated_since=2000-01-01&limit=5{cursor}"),
            token,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply
}

fn versions(reply: &Reply) -> Vec<(String, i64, String)> {
    reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["version"].as_i64().unwrap(),
                c["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn next(reply: &Reply) -> String {
    reply.body["next_cursor"]
        .as_str()
        .expect("every feed page has a cursor")
        .to_owned()
}

#[tokio::test]
async fn a_partner_polls_every_change_including_cancellations_notes_and_expiry() {
    let w = world().await;
    let app = &w.app;
    let partner = w.partner(w.partner_a);
    let cancelled = w.requested(w.partner_a, &[]).await;
    let noted = w.requested(w.partner_a, &[]).await;
    let expiring = w.requested(w.partner_a, &[]).await;
    w.requested(w.partner_b, &[]).await;

    let first = poll(app, &partner, None).await;
    assert_eq!(
        versions(&first),
        [cancelled, noted, expiring].map(|id| (id.to_string(), 1, "requested".to_owned()))
    );
    let quiet = poll(app, &partner, Some(&next(&first))).await;
    assert_eq!(versions(&quiet), []);

    let reply = w
        .transition(
            cancelled,
            &app.coordinator(),
            1,
            json!({"to": "cancelled", "reason": "Moved away"}),
        )
        .await;
    assert_eq!(reply.status, 200);
    app.post(
        &format!("/v1/connections/{noted}/notes"),
        &app.coordinator(),
        &json!({"text": "Any news?"}),
    )
    .await;
    let later = Utc::now() + Duration::days(15);
    let expired = linkwell_api::expiry::run_once(&mut app.db(), later, Duration::days(14)).unwrap();
    assert_eq!(expired, 3, "the requests still unanswered, partner B's too");

    let news = poll(app, &partner, Some(&next(&quiet))).await;
    assert_eq!(
        versions(&news),
        [
            (cancelled.to_string(), 2, "cancelled".to_owned()),
            (noted.to_string(), 3, "expired".to_owned()),
            (expiring.to_string(), 2, "expired".to_owned()),
        ]
    );
    assert_eq!(news.body["items"][2]["reason"], "no answer within 14 days");
    assert_eq!(versions(&poll(app, &partner, Some(&next(&news))).await), []);
}

/// Staff and partners change connections while a partner polls: the poller ends up seeing
/// every connection at its last version.
#[tokio::test]
async fn no_connection_change_is_passed_over_by_a_concurrent_poller() {
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let w = world().await;
    let app = &w.app;
    if crate::support::backend() == "postgres" {
        use diesel::connection::SimpleConnection;
        app.db()
            .batch_execute(
                "CREATE FUNCTION linger() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN PERFORM pg_sleep(random() * 0.04); RETURN NULL; END $$;
                 CREATE TRIGGER linger AFTER INSERT OR UPDATE ON connections
                 FOR EACH ROW EXECUTE FUNCTION linger();",
            )
            .unwrap();
    }
    let partner = w.partner(w.partner_a);
    let done = Arc::new(AtomicBool::new(false));
    let writers = (0..3).map(|_| {
        let (w, partner) = (&w, partner.clone());
        async move {
            let mut last = Vec::new();
            for _ in 0..4 {
                let id = w.requested(w.partner_a, &[]).await;
                let a = w
                    .transition(id, &partner, 1, json!({"to": "accepted"}))
                    .await;
                assert_eq!(a.status, 200, "{}", a.text);
                let n = w
                    .app
                    .post(
                        &format!("/v1/connections/{id}/notes"),
                        &partner,
                        &json!({"text": "Booked"}),
                    )
                    .await;
                assert_eq!(n.status, 201, "{}", n.text);
                last.push((id.to_string(), 3));
            }
            last
        }
    });
    let poller = {
        let (partner, done) = (partner.clone(), done.clone());
        async move {
            let mut seen: HashMap<String, i64> = HashMap::new();
            let mut cursor: Option<String> = None;
            let mut quiet_after_done = 0;
            while quiet_after_done < 2 {
                let finished = done.load(Ordering::SeqCst);
                let page = poll(app, &partner, cursor.as_deref()).await;
                let got = versions(&page);
                for (id, version, _) in &got {
                    let entry = seen.entry(id.clone()).or_default();
                    assert!(
                        *version >= *entry,
                        "a connection never goes back in the feed"
                    );
                    *entry = *version;
                }
                cursor = Some(next(&page));
                if finished && got.is_empty() {
                    quiet_after_done += 1;
                }
                tokio::time::sleep(std::time::Duration::from_millis(3)).await;
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
    assert_eq!(written.len(), 12);
    for (id, version) in &written {
        assert_eq!(
            seen.get(id),
            Some(version),
            "the poller saw every connection at its last change"
        );
    }
    assert_eq!(seen.len(), written.len());
}

#[tokio::test]
async fn requests_expire_once_however_many_instances_run_the_expiry() {
    let w = world().await;
    let app = &w.app;
    let mut requested = Vec::new();
    for _ in 0..6 {
        requested.push(w.requested(w.partner_a, &[]).await);
    }
    let answered = w.requested(w.partner_a, &[]).await;
    w.transition(
        answered,
        &w.partner(w.partner_a),
        1,
        json!({"to": "accepted"}),
    )
    .await;
    let window = Duration::days(14);

    // Not yet due.
    let almost = Utc::now() + Duration::days(13);
    assert_eq!(
        linkwell_api::expiry::run_once(&mut app.db(), almost, window).unwrap(),
        0
    );

    // Two instances at once, as two `linkwell expire` processes.
    let at = (Utc::now() + Duration::days(15)).to_rfc3339_opts(SecondsFormat::Micros, true);
    let url = crate::cli::database_url(app);
    let run = || {
        crate::cli::linkwell()
            .env("LINKWELL_SIGNING_KEY_FILE", &app.key_file)
            .args(["expire", "--at", &at, "--database-url", &url])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (one, two) = (run(), run());
    let mut total = 0;
    for child in [one, two] {
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout} {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let n: usize = stdout
            .strip_prefix("expired ")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{stdout}"));
        total += n;
    }
    assert_eq!(
        total, 6,
        "each request expired exactly once between the two"
    );
    let staff = app.coordinator();
    for id in &requested {
        let c = app.get(&format!("/v1/connections/{id}"), &staff).await;
        assert_eq!(
            (&c.body["status"], &c.body["version"]),
            (&json!("expired"), &json!(2))
        );
    }
    let kept = app
        .get(&format!("/v1/connections/{answered}"), &staff)
        .await;
    assert_eq!(kept.body["status"], "accepted");
    let expiries = audit::recent(&mut app.db(), 1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "connection.expire")
        .count();
    assert_eq!(expiries, 6, "one audit row per expiry");

    // In-process instances racing on the same rows agree too.
    let more: Vec<Uuid> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(w.requested(w.partner_a, &[]).await);
        }
        v
    };
    let later = Utc::now() + Duration::days(30);
    let racers: Vec<_> = (0..2)
        .map(|_| {
            let mut conn = app.db();
            std::thread::spawn(move || {
                linkwell_api::expiry::run_once(&mut conn, later, window).unwrap()
            })
        })
        .collect();
    let won: usize = racers.into_iter().map(|r| r.join().unwrap()).sum();
    assert_eq!(won, more.len());
}

#[tokio::test]
async fn the_server_expires_requests_on_its_own() {
    let app = TestApp::spawn_with(|config| {
        config.expiry = linkwell_api::expiry::Policy {
            window: Duration::zero(),
            every: std::time::Duration::from_millis(100),
        };
    })
    .await;
    let practice = app.organisation("Practice", "gp_practice").await;
    let partner = app.organisation("Advice", "partner").await;
    let referral = app.accepted(practice, "X-1").await;
    let made = app
        .post(
            &format!("/v1/referrals/{referral}/connections"),
            &app.coordinator(),
            &json!({"organisation_id": partner, "need": "housing", "consent_to_share": true, "shared_fields": []}),
        )
        .await;
    let path = format!("/v1/connections/{}", made.id());
    let mut status = Value::Null;
    for _ in 0..100 {
        status = app.get(&path, &app.coordinator()).await.body["status"].clone();
        if status == "expired" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, "expired");
}

/// LAC's introduction to a group with no login: staff record its answers on its behalf,
/// naming who gave them, and the request never expires unanswered.
#[tokio::test]
async fn staff_record_a_partners_answers_on_its_behalf_and_such_a_request_never_expires() {
    let w = world().await;
    let app = &w.app;
    let staff = app.coordinator();
    let group = app.organisation("Knit and Natter", "community_group").await;
    let made = w
        .connect(
            &json!({"organisation_id": group, "need": "money_and_benefits",
                         "consent_to_share": true, "shared_fields": [], "answered_by_staff": true}),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let id = made.id();
    assert_eq!(made.body["answered_by_staff"], true);
    assert_eq!(made.body["recorded_on_behalf_of"], json!(null));
    // Another, left to the partner to answer, for comparison.
    let waiting = w.requested(w.partner_a, &[]).await;

    let later = Utc::now() + Duration::days(60);
    let expired = linkwell_api::expiry::run_once(&mut app.db(), later, Duration::days(14)).unwrap();
    assert_eq!(expired, 1);
    let kept = app.get(&format!("/v1/connections/{id}"), &staff).await;
    assert_eq!(kept.body["status"], "requested");
    let gone = app.get(&format!("/v1/connections/{waiting}"), &staff).await;
    assert_eq!(gone.body["status"], "expired");

    // Without `recorded_on_behalf_of`, staff cannot make the receiver's moves.
    w.transition(id, &staff, 1, json!({"to": "accepted"}))
        .await
        .problem(403, "forbidden");
    let accepted = w
        .transition(
            id,
            &staff,
            1,
            json!({"to": "accepted", "recorded_on_behalf_of": "Pat Jones, by phone"}),
        )
        .await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    assert_eq!(accepted.body["status"], "accepted");
    assert_eq!(
        accepted.body["recorded_on_behalf_of"],
        "Pat Jones, by phone"
    );
    for (version, body) in [
        (
            2,
            json!({"to": "in_progress", "recorded_on_behalf_of": "Pat Jones, by phone"}),
        ),
        (
            3,
            json!({"to": "completed", "outcome": "got_help", "recorded_on_behalf_of": "Pat Jones, at the group"}),
        ),
    ] {
        let moved = w.transition(id, &staff, version, body).await;
        assert_eq!(moved.status, 200, "{}", moved.text);
    }
    let done = app.get(&format!("/v1/connections/{id}"), &staff).await;
    assert_eq!(done.body["status"], "completed");
    assert_eq!(done.body["outcome"], "got_help");
    assert_eq!(
        done.body["recorded_on_behalf_of"],
        "Pat Jones, at the group"
    );

    // Staff still only cancel for themselves; a partner answers for itself.
    let other = w.requested(w.partner_a, &[]).await;
    let refused = w
        .transition(
            other,
            &w.partner(w.partner_a),
            1,
            json!({"to": "accepted", "recorded_on_behalf_of": "Me"}),
        )
        .await;
    refused.problem(422, "validation_failed");
    assert_eq!(
        refused.field_errors(),
        [(
            "/recorded_on_behalf_of".to_owned(),
            "not_applicable".to_owned()
        )]
    );
    let blank = w
        .transition(
            other,
            &staff,
            1,
            json!({"to": "accepted", "recorded_on_behalf_of": " "}),
        )
        .await;
    blank.problem(422, "validation_failed");
    // Recorded once on its behalf, a request never expires either.
    let answered = w
        .transition(other, &staff, 1, json!({"to": "rejected", "reason_code": "no_capacity", "recorded_on_behalf_of": "The office, by letter"}))
        .await;
    assert_eq!(
        answered.body["answered_by_staff"], true,
        "{}",
        answered.text
    );
}

/// A group without a login answers through a one-time link: it sees only that connection's
/// consented details, answers once, and a used, expired or altered link is refused.
#[tokio::test]
async fn a_one_time_link_lets_a_receiver_without_a_login_see_and_answer_one_connection() {
    let w = world().await;
    let app = &w.app;
    let staff = app.coordinator();
    let id = w.requested(w.partner_a, &["given_name", "phone"]).await;
    let other = w.requested(w.partner_a, &["given_name"]).await;

    let issued = app
        .post(
            &format!("/v1/connections/{id}/action-links"),
            &staff,
            &json!({}),
        )
        .await;
    assert_eq!(issued.status, 201, "{}", issued.text);
    let path = issued.body["path"].as_str().unwrap().to_owned();
    let token = issued.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        path,
        format!("/v1/action-links/{}", issued.body["id"].as_str().unwrap())
    );
    // The token travels in a header, never in the URL.
    let holder = |method: Method, path: String, token: String, body: Option<Value>| async move {
        let mut request = app
            .client
            .request(method, app.url(&path))
            .header("action-token", token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        crate::support::Reply::from_response(request.send().await.unwrap()).await
    };
    // Only staff issue links.
    app.post(
        &format!("/v1/connections/{id}/action-links"),
        &w.partner(w.partner_a),
        &json!({}),
    )
    .await
    .problem(403, "forbidden");

    // No account: the link is the credential, and it shows only the consented details.
    let read = holder(Method::GET, path.clone(), token.clone(), None).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.body["connection"]["id"], json!(id));
    assert_eq!(
        keys(&read.body["connection"]["person"]),
        ["given_name", "phone"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    assert!(read.body["connection"].get("referral_id").is_none());
    assert_eq!(read.body["moves"], json!(["accepted", "rejected"]));

    // Altered in any part, or for another connection, it names nothing.
    let (head, tag) = token.split_once('.').unwrap();
    let flipped = |s: &str| {
        let mut chars: Vec<char> = s.chars().collect();
        chars[3] = if chars[3] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect::<String>()
    };
    for altered in [
        format!("{}.{tag}", flipped(head)),
        format!("{head}.{}", flipped(tag)),
        "x.y".to_owned(),
        String::new(),
    ] {
        holder(Method::GET, path.clone(), altered, None)
            .await
            .problem(404, "action_link_invalid");
    }
    // A link's token is no bearer token.
    holder(
        Method::GET,
        format!("/v1/connections/{other}"),
        token.clone(),
        None,
    )
    .await
    .problem(401, "unauthorized");
    // A staff-only move is not the link's to make.
    holder(
        Method::POST,
        format!("{path}/transitions"),
        token.clone(),
        Some(json!({"to": "cancelled", "reason": "No"})),
    )
    .await
    .problem(403, "forbidden");

    // It answers once.
    let answered = holder(
        Method::POST,
        (format!("{path}/transitions")).to_string(),
        token.clone(),
        Some(json!({"to": "accepted"})),
    )
    .await;
    assert_eq!(answered.status, 200, "{}", answered.text);
    assert_eq!(answered.body["connection"]["status"], "accepted");
    holder(
        Method::POST,
        (format!("{path}/transitions")).to_string(),
        token.clone(),
        Some(json!({"to": "in_progress"})),
    )
    .await
    .problem(410, "action_link_used");
    holder(Method::GET, path.clone(), token.clone(), None)
        .await
        .problem(410, "action_link_used");
    let staff_view = app.get(&format!("/v1/connections/{id}"), &staff).await;
    assert_eq!(staff_view.body["status"], "accepted");
    // The other connection never moved.
    assert_eq!(
        app.get(&format!("/v1/connections/{other}"), &staff)
            .await
            .body["status"],
        "requested"
    );

    // An expired link, and one for a connection that is over, are refused too.
    let second = app
        .post(
            &format!("/v1/connections/{other}/action-links"),
            &staff,
            &json!({}),
        )
        .await;
    let second_path = second.body["path"].as_str().unwrap().to_owned();
    let second_token = second.body["token"].as_str().unwrap().to_owned();
    {
        use diesel::RunQueryDsl;
        let sql = format!(
            "UPDATE connection_action_links SET expires_at = created_at WHERE id = '{}'",
            second.body["id"].as_str().unwrap()
        );
        diesel::sql_query(sql).execute(&mut app.db()).unwrap();
    }
    holder(Method::GET, second_path, second_token, None)
        .await
        .problem(410, "action_link_expired");
    let third = app
        .post(
            &format!("/v1/connections/{other}/action-links"),
            &staff,
            &json!({}),
        )
        .await;
    let cancelled = w
        .transition(
            other,
            &staff,
            1,
            json!({"to": "cancelled", "reason": "Moved away"}),
        )
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    holder(
        Method::GET,
        (third.body["path"].as_str().unwrap()).to_string(),
        third.body["token"].as_str().unwrap().to_owned(),
        None,
    )
    .await
    .problem(410, "action_link_closed");
    app.post(
        &format!("/v1/connections/{other}/action-links"),
        &staff,
        &json!({}),
    )
    .await
    .problem(409, "connection_final");

    // The trail names the link as who read and answered.
    let trail = audit::recent(&mut app.db(), 1000).unwrap();
    let by_link: Vec<&str> = trail
        .iter()
        .filter(|e| e.actor_sub.starts_with("action-link:"))
        .map(|e| e.action.as_str())
        .collect();
    assert!(by_link.contains(&"connection.read_by_link"), "{by_link:?}");
    assert!(
        by_link.contains(&"connection.answer_by_link"),
        "{by_link:?}"
    );
}

/// An erased person's connection is 404 to its partner; through a link it is over too.
#[tokio::test]
async fn a_link_to_an_erased_persons_connection_is_closed() {
    let w = world().await;
    let app = &w.app;
    let staff = app.coordinator();
    let id = w.requested(w.partner_a, &["given_name"]).await;
    let issued = app
        .post(
            &format!("/v1/connections/{id}/action-links"),
            &staff,
            &json!({}),
        )
        .await;
    assert_eq!(issued.status, 201, "{}", issued.text);
    let path = issued.body["path"].as_str().unwrap().to_owned();
    let token = issued.body["token"].as_str().unwrap().to_owned();
    let read = |app: &TestApp| {
        let request = app
            .client
            .get(app.url(&path))
            .header("action-token", token.clone());
        async move { Reply::from_response(request.send().await.unwrap()).await }
    };
    assert_eq!(read(app).await.status, 200);
    let closed = app
        .transition(
            w.referral,
            &staff,
            2,
            &json!({"to": "closed", "reason_code": "goals_met", "reason": "Done"}),
        )
        .await;
    assert_eq!(closed.status, 200, "{}", closed.text);
    let person = app
        .get(&format!("/v1/referrals/{}", w.referral), &staff)
        .await
        .body["person_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let erased = app
        .post(
            &format!("/v1/people/{person}/erasure"),
            &app.admin(),
            &json!({"reason": "The person asked (article 17)"}),
        )
        .await;
    assert!(erased.status.is_success(), "{}", erased.text);
    app.get(&format!("/v1/connections/{id}"), &w.partner(w.partner_a))
        .await
        .problem(404, "not_found");
    read(app).await.problem(410, "action_link_closed");
}
