//! Consent: a partner never sees a change made after its connection became final, however it
//! became final; withdrawing consent is an act of its own that cancels every open connection
//! at once and stops new ones until consent is given again; each move of a connection takes
//! only its own reason codes.

use chrono::{Duration, Utc};
use linkwell_domain::Role;
use linkwell_persistence::audit;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Reply, TestApp};

const OLD_PHONE: &str = "01284 123456";
const NEW_PHONE: &str = "07700 900123";

/// An accepted referral from a practice, two partners and a service that only signposts.
struct World {
    app: TestApp,
    referral: Uuid,
    partner_a: Uuid,
    partner_b: Uuid,
    walks: Uuid,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let practice = app.organisation("Practice", "gp_practice").await;
    let partner_a = app.organisation("Citizens Advice", "partner").await;
    let partner_b = app.organisation("Housing Support", "agency").await;
    let referral = app.accepted(practice, "CONSENT-1").await;
    let walks = app
        .post(
            "/v1/directory/services",
            &app.admin(),
            &json!({"name": "Health walks", "description": "Walks.",
                    "needs": ["money_and_benefits"], "accepts_referrals": false}),
        )
        .await
        .id();
    World {
        app,
        referral,
        partner_a,
        partner_b,
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

    /// A requested connection to `org` sharing the given name and phone.
    async fn requested(&self, org: Uuid) -> Uuid {
        let reply = self
            .connect(
                &json!({"organisation_id": org, "need": "money_and_benefits",
                             "consent_to_share": true, "shared_fields": ["given_name", "phone"]}),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.id()
    }

    async fn transition(&self, id: Uuid, token: &str, version: i64, body: Value) -> Reply {
        self.app
            .change(
                Method::POST,
                &format!("/v1/connections/{id}/transitions"),
                token,
                version,
                Some(&body),
            )
            .await
    }

    /// Moves connection `id` from version 1 through `moves` as `token`.
    async fn walk(&self, id: Uuid, token: &str, moves: &[Value]) {
        for (step, body) in moves.iter().enumerate() {
            let version = i64::try_from(step).unwrap() + 1;
            let reply = self.transition(id, token, version, body.clone()).await;
            assert_eq!(reply.status, 200, "{body}: {}", reply.text);
        }
    }

    async fn referral_version(&self) -> i64 {
        let reply = self
            .app
            .get(
                &format!("/v1/referrals/{}", self.referral),
                &self.app.coordinator(),
            )
            .await;
        reply.body["version"].as_i64().unwrap()
    }

    /// Staff correct the person's record: a new phone and given name.
    async fn correct_person(&self) {
        let staff = self.app.coordinator();
        let referral = self
            .app
            .get(&format!("/v1/referrals/{}", self.referral), &staff)
            .await;
        let person = referral.body["person_id"].as_str().unwrap().to_owned();
        let path = format!("/v1/people/{person}");
        let version = self.app.get(&path, &staff).await.body["version"]
            .as_i64()
            .unwrap();
        let reply = self
            .app
            .change(
                Method::PATCH,
                &path,
                &staff,
                version,
                Some(&json!({"phone": NEW_PHONE, "given_name": "Samuel"})),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }

    async fn consent(&self, version: Option<i64>, body: &Value) -> Reply {
        let path = format!("/v1/referrals/{}/consent", self.referral);
        let token = self.app.coordinator();
        match version {
            Some(v) => {
                self.app
                    .change(Method::POST, &path, &token, v, Some(body))
                    .await
            }
            None => self.app.post(&path, &token, body).await,
        }
    }
}

fn shown(phone: &str, given_name: &str) -> Value {
    json!({"given_name": given_name, "phone": phone})
}

/// The `person` each item of a page shows, by connection id.
fn people_on(page: &Reply) -> Vec<(String, Value)> {
    page.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {}", page.text))
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_owned(), c["person"].clone()))
        .collect()
}

#[tokio::test]
async fn a_correction_after_staff_cancel_never_reaches_the_partner() {
    let w = world().await;
    let app = &w.app;
    let staff = app.coordinator();
    let partner = w.partner(w.partner_a);
    let cancelled = w.requested(w.partner_a).await;
    let open = w.requested(w.partner_a).await;
    w.walk(cancelled, &partner, &[json!({"to": "accepted"})])
        .await;
    let reply = w
        .transition(
            cancelled,
            &staff,
            2,
            json!({"to": "cancelled", "reason_code": "consent_withdrawn",
                   "reason": "person withdrew consent"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["person"], shown(OLD_PHONE, "Sam"));
    w.correct_person().await;

    let read = app
        .get(&format!("/v1/connections/{cancelled}"), &partner)
        .await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(
        (&read.body["status"], &read.body["person"]),
        (&json!("cancelled"), &shown(OLD_PHONE, "Sam")),
        "the partner reads what it was shown when the connection was cancelled"
    );
    // The open one follows the record, so the correction is not lost to those still working.
    let live = app.get(&format!("/v1/connections/{open}"), &partner).await;
    assert_eq!(live.body["person"], shown(NEW_PHONE, "Samuel"));
    // The same in the partner's list and feed, and in what staff see of it.
    let list = app.get("/v1/connections", &partner).await;
    let feed = app
        .get("/v1/connections?updated_since=2020-01-01", &partner)
        .await;
    for page in [&list, &feed] {
        let mut people = people_on(page);
        people.sort_by(|x, y| x.0.cmp(&y.0));
        let mut expected = vec![
            (cancelled.to_string(), shown(OLD_PHONE, "Sam")),
            (open.to_string(), shown(NEW_PHONE, "Samuel")),
        ];
        expected.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(people, expected, "{}", page.text);
    }
    let staff_view = app
        .get(&format!("/v1/connections/{cancelled}"), &staff)
        .await;
    assert_eq!(staff_view.body["person"], shown(OLD_PHONE, "Sam"));
    // Another partner still cannot reach it.
    app.get(
        &format!("/v1/connections/{cancelled}"),
        &w.partner(w.partner_b),
    )
    .await
    .problem(404, "not_found");
}

#[tokio::test]
async fn every_way_a_connection_becomes_final_freezes_what_its_partner_sees() {
    let w = world().await;
    let app = &w.app;
    let staff = app.coordinator();
    let partner = w.partner(w.partner_a);
    let rejected = w.requested(w.partner_a).await;
    let failed = w.requested(w.partner_a).await;
    let completed = w.requested(w.partner_a).await;
    let cancelled = w.requested(w.partner_a).await;
    let expired = w.requested(w.partner_a).await;
    let signposted = w
        .connect(&json!({"service_id": w.walks, "need": "money_and_benefits",
                         "consent_to_share": true, "shared_fields": ["given_name", "phone"]}))
        .await;
    assert_eq!(
        signposted.body["status"], "signposted",
        "{}",
        signposted.text
    );
    let signposted = signposted.id();
    w.walk(
        rejected,
        &partner,
        &[json!({"to": "rejected", "reason_code": "no_capacity"})],
    )
    .await;
    w.walk(
        failed,
        &partner,
        &[
            json!({"to": "accepted"}),
            json!({"to": "failed", "reason_code": "could_not_contact", "outcome": "could_not_contact"}),
        ],
    )
    .await;
    w.walk(
        completed,
        &partner,
        &[
            json!({"to": "accepted"}),
            json!({"to": "in_progress"}),
            json!({"to": "completed", "outcome": "got_help"}),
        ],
    )
    .await;
    w.walk(
        cancelled,
        &staff,
        &[json!({"to": "cancelled", "reason_code": "no_longer_interested"})],
    )
    .await;
    // Only the request still unanswered expires.
    let later = Utc::now() + Duration::days(15);
    let n = linkwell_api::expiry::run_once(&mut app.db(), later, Duration::days(14)).unwrap();
    assert_eq!(n, 1);

    w.correct_person().await;

    for (id, status) in [
        (rejected, "rejected"),
        (failed, "failed"),
        (completed, "completed"),
        (cancelled, "cancelled"),
        (expired, "expired"),
    ] {
        let read = app.get(&format!("/v1/connections/{id}"), &partner).await;
        assert_eq!(
            (&read.body["status"], &read.body["person"]),
            (&json!(status), &shown(OLD_PHONE, "Sam")),
            "{status}: {}",
            read.text
        );
        app.get(&format!("/v1/connections/{id}"), &w.partner(w.partner_b))
            .await
            .problem(404, "not_found");
    }
    let feed = app
        .get("/v1/connections?updated_since=2020-01-01", &partner)
        .await;
    let people = people_on(&feed);
    assert_eq!(people.len(), 5, "{}", feed.text);
    assert!(
        people.iter().all(|(_, p)| *p == shown(OLD_PHONE, "Sam")),
        "{}",
        feed.text
    );
    // A signpost is final from the start: it keeps what it was made with.
    let sign = app
        .get(&format!("/v1/connections/{signposted}"), &staff)
        .await;
    assert_eq!(sign.body["person"], shown(OLD_PHONE, "Sam"));
}

#[tokio::test]
async fn withdrawing_consent_cancels_every_open_connection_at_once() {
    let w = world().await;
    let app = &w.app;
    let staff = app.coordinator();
    let (a, b) = (w.partner(w.partner_a), w.partner(w.partner_b));
    let requested = w.requested(w.partner_a).await;
    let accepted = w.requested(w.partner_a).await;
    let in_progress = w.requested(w.partner_b).await;
    let on_hold = w.requested(w.partner_a).await;
    let completed = w.requested(w.partner_a).await;
    let rejected = w.requested(w.partner_b).await;
    w.walk(accepted, &a, &[json!({"to": "accepted"})]).await;
    w.walk(
        in_progress,
        &b,
        &[json!({"to": "accepted"}), json!({"to": "in_progress"})],
    )
    .await;
    w.walk(
        on_hold,
        &a,
        &[
            json!({"to": "accepted"}),
            json!({"to": "in_progress"}),
            json!({"to": "on_hold", "reason_code": "person_unavailable"}),
        ],
    )
    .await;
    w.walk(
        completed,
        &a,
        &[
            json!({"to": "accepted"}),
            json!({"to": "in_progress"}),
            json!({"to": "completed", "outcome": "got_help"}),
        ],
    )
    .await;
    w.walk(
        rejected,
        &b,
        &[json!({"to": "rejected", "reason_code": "not_eligible"})],
    )
    .await;
    let feed_before = app
        .get("/v1/connections?updated_since=2020-01-01", &a)
        .await;
    let cursor = feed_before.body["next_cursor"].as_str().unwrap().to_owned();

    // Refused before anything changes: no If-Match, a stale one, a bad body, other roles.
    let withdrawal = json!({"status": "withdrawn", "scope": "sharing_with_partners",
                            "reason": "Does not want partners contacted"});
    let version = w.referral_version().await;
    w.consent(None, &withdrawal)
        .await
        .problem(428, "precondition_required");
    w.consent(Some(version - 1), &withdrawal)
        .await
        .problem(412, "precondition_failed");
    let bad = w
        .consent(
            Some(version),
            &json!({"status": "revoked", "scope": "marketing"}),
        )
        .await;
    bad.problem(422, "validation_failed");
    let mut errors = bad.field_errors();
    errors.sort();
    assert_eq!(
        errors,
        [
            ("/scope".to_owned(), "unknown_code".to_owned()),
            ("/status".to_owned(), "unknown_code".to_owned())
        ]
    );
    let path = format!("/v1/referrals/{}/consent", w.referral);
    for role in [Role::Referrer, Role::Partner, Role::Commissioner] {
        let token = app.member(role).await;
        app.change(Method::POST, &path, &token, version, Some(&withdrawal))
            .await
            .problem(403, "forbidden");
        app.get(&path, &token).await.problem(403, "forbidden");
    }
    app.change(
        Method::POST,
        &format!("/v1/referrals/{}/consent", Uuid::now_v7()),
        &staff,
        1,
        Some(&withdrawal),
    )
    .await
    .problem(404, "not_found");
    assert_eq!(w.referral_version().await, version, "nothing changed");

    let done = w.consent(Some(version), &withdrawal).await;
    assert_eq!(done.status, 201, "{}", done.text);
    assert_eq!(
        done.header("etag"),
        Some(format!("\"{}\"", version + 1).as_str())
    );
    assert_eq!(
        done.header("location"),
        Some(path.as_str()),
        "{}",
        done.text
    );
    assert_eq!(
        (
            &done.body["status"],
            &done.body["scope"],
            &done.body["reason"],
            &done.body["by"],
            &done.body["role"],
            &done.body["referral_id"]
        ),
        (
            &json!("withdrawn"),
            &json!("sharing_with_partners"),
            &json!("Does not want partners contacted"),
            &json!("coordinator-user"),
            &json!("coordinator"),
            &json!(w.referral)
        )
    );
    assert_eq!(
        done.body["cancelled_connections"],
        json!([requested, accepted, in_progress, on_hold]),
        "every open connection, oldest first; the final ones left"
    );
    // A retry of the act that took effect is refused, not recorded twice.
    w.consent(Some(version), &withdrawal)
        .await
        .problem(412, "precondition_failed");

    for (id, version_before) in [
        (requested, 1),
        (accepted, 2),
        (in_progress, 3),
        (on_hold, 4),
    ] {
        let c = app.get(&format!("/v1/connections/{id}"), &staff).await;
        assert_eq!(
            (
                &c.body["status"],
                &c.body["reason_code"],
                &c.body["reason"],
                &c.body["version"]
            ),
            (
                &json!("cancelled"),
                &json!("consent_withdrawn"),
                &json!("Does not want partners contacted"),
                &json!(version_before + 1)
            ),
            "{}",
            c.text
        );
    }
    for (id, status, version) in [(completed, "completed", 4), (rejected, "rejected", 2)] {
        let c = app.get(&format!("/v1/connections/{id}"), &staff).await;
        assert_eq!(
            (&c.body["status"], &c.body["version"]),
            (&json!(status), &json!(version)),
            "a final connection is left as it ended"
        );
    }
    // Each partner sees its own cancellations in its feed, and only its own.
    let news = app
        .get(
            &format!("/v1/connections?updated_since=2020-01-01&cursor={cursor}"),
            &a,
        )
        .await;
    let seen: Vec<(String, String)> = news.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [requested, accepted, on_hold].map(|id| (id.to_string(), "cancelled".to_owned())),
        "{}",
        news.text
    );

    // A correction afterwards reaches none of them.
    w.correct_person().await;
    for (id, token) in [(requested, &a), (on_hold, &a), (in_progress, &b)] {
        let c = app.get(&format!("/v1/connections/{id}"), token).await;
        assert_eq!(c.body["person"], shown(OLD_PHONE, "Sam"), "{}", c.text);
    }
    app.get(&format!("/v1/connections/{in_progress}"), &a)
        .await
        .problem(404, "not_found");

    // No new connection until consent is given again.
    let body = json!({"organisation_id": w.partner_a, "need": "money_and_benefits",
                      "consent_to_share": true, "shared_fields": ["phone"]});
    w.connect(&body).await.problem(409, "consent_withdrawn");
    let version = w.referral_version().await;
    let given = w
        .consent(
            Some(version),
            &json!({"status": "given", "scope": "sharing_with_partners"}),
        )
        .await;
    assert_eq!(given.status, 201, "{}", given.text);
    assert_eq!(given.body["cancelled_connections"], json!([]));
    assert_eq!(given.body["reason"], json!(null));
    let again = w.connect(&body).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.body["person"], json!({"phone": NEW_PHONE}));

    // The record: every act, oldest first, and where consent stands.
    let history = app.get(&path, &staff).await;
    assert_eq!(history.status, 200, "{}", history.text);
    assert_eq!(history.body["current"]["sharing_with_partners"], "given");
    let acts: Vec<(&str, &str)> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["status"].as_str().unwrap(), r["by"].as_str().unwrap()))
        .collect();
    assert_eq!(
        acts,
        [
            ("withdrawn", "coordinator-user"),
            ("given", "coordinator-user")
        ]
    );
    assert_eq!(history.body["items"][0]["id"], done.body["id"]);
    app.get(&format!("/v1/referrals/{}/consent", Uuid::now_v7()), &staff)
        .await
        .problem(404, "not_found");

    // Audited: the act names the referral and the connections it cancelled; refusals too.
    let rows = audit::recent(&mut app.db(), 500).unwrap();
    let recorded: Vec<_> = rows
        .iter()
        .filter(|e| e.action == "referral.record_consent")
        .collect();
    let success: Vec<_> = recorded.iter().filter(|e| e.outcome == "success").collect();
    assert_eq!(success.len(), 2);
    let withdrawn = success.iter().find(|e| !e.resource_ids.is_empty()).unwrap();
    assert_eq!(
        (withdrawn.resource_type.as_str(), withdrawn.resource_id),
        ("referral", Some(w.referral))
    );
    assert_eq!(
        withdrawn.resource_ids,
        vec![requested, accepted, in_progress, on_hold]
    );
    for outcome in ["conflict", "forbidden", "not_found"] {
        assert!(
            recorded.iter().any(|e| e.outcome == outcome),
            "{outcome}: {recorded:?}"
        );
    }
    assert!(
        rows.iter()
            .any(|e| e.action == "referral.read_consent" && e.outcome == "success")
    );
}

#[tokio::test]
async fn each_move_takes_only_its_own_reason_codes() {
    let w = world().await;
    let app = &w.app;
    let staff = app.coordinator();
    let partner = w.partner(w.partner_a);
    let id = w.requested(w.partner_a).await;
    let refused =
        |body: Value, token: String, version: i64, expected: Vec<(&'static str, &'static str)>| {
            let w = &w;
            async move {
                let reply = w.transition(id, &token, version, body.clone()).await;
                reply.problem(422, "validation_failed");
                let expected: Vec<(String, String)> = expected
                    .into_iter()
                    .map(|(at, code)| (at.to_owned(), code.to_owned()))
                    .collect();
                assert_eq!(reply.field_errors(), expected, "{body}");
            }
        };
    // The defect: an outcome code as the reason for a rejection.
    refused(
        json!({"to": "rejected", "reason_code": "got_help"}),
        partner.clone(),
        1,
        vec![("/reason_code", "unknown_code")],
    )
    .await;
    refused(
        json!({"to": "rejected", "reason_code": "could_not_contact"}),
        partner.clone(),
        1,
        vec![("/reason_code", "reason_code_not_applicable")],
    )
    .await;
    refused(
        json!({"to": "rejected", "reason_code": "consent_withdrawn"}),
        partner.clone(),
        1,
        vec![("/reason_code", "reason_code_not_applicable")],
    )
    .await;
    refused(
        json!({"to": "accepted", "reason_code": "other"}),
        partner.clone(),
        1,
        vec![("/reason_code", "reason_code_not_applicable")],
    )
    .await;
    refused(
        json!({"to": "cancelled", "reason_code": "no_capacity"}),
        staff.clone(),
        1,
        vec![("/reason_code", "reason_code_not_applicable")],
    )
    .await;
    let c = app.get(&format!("/v1/connections/{id}"), &staff).await;
    assert_eq!(
        (&c.body["status"], &c.body["version"]),
        (&json!("requested"), &json!(1)),
        "nothing changed"
    );
    w.walk(
        id,
        &partner,
        &[json!({"to": "accepted"}), json!({"to": "in_progress"})],
    )
    .await;
    refused(
        json!({"to": "on_hold", "reason_code": "not_eligible"}),
        partner.clone(),
        3,
        vec![("/reason_code", "reason_code_not_applicable")],
    )
    .await;
    refused(
        json!({"to": "failed", "reason_code": "person_unavailable", "outcome": "got_help"}),
        partner.clone(),
        3,
        vec![
            ("/reason_code", "reason_code_not_applicable"),
            ("/outcome", "outcome_not_applicable"),
        ],
    )
    .await;
    refused(
        json!({"to": "completed", "outcome": "could_not_contact"}),
        partner.clone(),
        3,
        vec![("/outcome", "outcome_not_applicable")],
    )
    .await;
    let ok = w
        .transition(
            id,
            &partner,
            3,
            json!({"to": "on_hold", "reason_code": "person_unavailable"}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["reason_code"], "person_unavailable");

    // The referral lifecycle likewise: closure codes only when closing, and always then.
    let referral = |body: Value| {
        let w = &w;
        async move {
            let version = w.referral_version().await;
            w.app
                .transition(w.referral, &w.app.coordinator(), version, &body)
                .await
        }
    };
    let stray =
        referral(json!({"to": "declined", "reason": "no", "reason_code": "goals_met"})).await;
    stray.problem(422, "validation_failed");
    assert_eq!(
        stray.field_errors(),
        [(
            "/reason_code".to_owned(),
            "reason_code_not_applicable".to_owned()
        )]
    );
    let foreign =
        referral(json!({"to": "closed", "reason": "no", "reason_code": "consent_withdrawn"})).await;
    assert_eq!(
        foreign.field_errors(),
        [("/reason_code".to_owned(), "unknown_code".to_owned())]
    );
    let missing = referral(json!({"to": "closed", "reason": "done"})).await;
    assert_eq!(
        missing.field_errors(),
        [("/reason_code".to_owned(), "reason_code_required".to_owned())]
    );

    // Each vocabulary is published with its move.
    let spec = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    let spec: Value = spec.json().await.unwrap();
    let schemas = &spec["components"]["schemas"];
    let reason = schemas["ConnectionReasonCode"]["description"]
        .as_str()
        .unwrap_or_default();
    for part in [
        "`rejected`: not_eligible, no_capacity, referred_elsewhere, other",
        "`cancelled`: consent_withdrawn, no_longer_interested, services_no_longer_needed, referred_elsewhere, other",
        "`on_hold`: person_unavailable, could_not_contact, no_capacity, other",
    ] {
        assert!(reason.contains(part), "{part}: {reason}");
    }
    let outcome = schemas["ConnectionOutcome"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(
        outcome.contains(
            "`completed`: got_help, services_no_longer_needed, referred_elsewhere, other"
        ),
        "{outcome}"
    );
    assert_eq!(
        schemas["ConnectionTransition"]["properties"]["reason_code"]["oneOf"][0]["$ref"],
        "#/components/schemas/ConnectionReasonCode",
        "{}",
        schemas["ConnectionTransition"]
    );
}

/// Connections made while consent is being withdrawn: each either came first and was
/// cancelled by the withdrawal, or came after and was refused; none is left open.
#[tokio::test]
async fn no_connection_outlives_a_concurrent_withdrawal() {
    let w = world().await;
    let version = w.referral_version().await;
    let body = json!({"organisation_id": w.partner_a, "need": "money_and_benefits",
                      "consent_to_share": true, "shared_fields": ["phone"]});
    let withdrawal = json!({"status": "withdrawn", "scope": "sharing_with_partners"});
    let makers = futures_util::future::join_all((0..8).map(|_| w.connect(&body)));
    let (made, withdrawn) = tokio::join!(makers, w.consent(Some(version), &withdrawal));
    assert_eq!(withdrawn.status, 201, "{}", withdrawn.text);
    let mut created = Vec::new();
    for reply in &made {
        if reply.status == 201 {
            created.push(reply.body["id"].as_str().unwrap().to_owned());
        } else {
            reply.problem(409, "consent_withdrawn");
        }
    }
    let mut cancelled: Vec<String> = withdrawn.body["cancelled_connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    cancelled.sort();
    created.sort();
    assert_eq!(
        cancelled, created,
        "every connection made before the withdrawal, and only those, was cancelled"
    );
    let list = w
        .app
        .get(
            &format!("/v1/connections?referral_id={}", w.referral),
            &w.app.coordinator(),
        )
        .await;
    let statuses: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.len(), created.len());
    assert!(statuses.iter().all(|s| *s == "cancelled"), "{statuses:?}");
}
