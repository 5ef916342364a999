//! Teams within the service, and handovers between them (Local Area Coordination's
//! introductions between place-based teams).

use linkwell_domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::support::{Reply, TestApp};

async fn team(app: &TestApp, name: &str) -> Uuid {
    let reply = app
        .post(
            "/v1/teams",
            &app.admin(),
            &json!({"name": name, "area": "Wirral West"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.id()
}

async fn join(app: &TestApp, team: Uuid, user: Uuid) -> Reply {
    app.call(
        Method::PUT,
        &format!("/v1/teams/{team}/members/{user}"),
        Some(&app.admin()),
        None,
    )
    .await
}

async fn hand_over(
    app: &TestApp,
    token: &str,
    id: Uuid,
    version: i64,
    body: serde_json::Value,
) -> Reply {
    app.change(
        Method::POST,
        &format!("/v1/referrals/{id}/handover"),
        token,
        version,
        Some(&body),
    )
    .await
}

fn ids(reply: &Reply) -> Vec<String> {
    reply.body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i["id"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn admins_make_teams_and_say_who_belongs() {
    let app = TestApp::spawn().await;
    let made = app
        .post(
            "/v1/teams",
            &app.admin(),
            &json!({"name": "Birkenhead", "area": "Birkenhead and Tranmere"}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let id = made.id();
    assert_eq!(
        made.header("location"),
        Some(format!("/v1/teams/{id}").as_str())
    );
    assert_eq!(made.header("etag"), Some("\"1\""));
    assert_eq!(made.body["name"], "Birkenhead");
    assert_eq!(made.body["area"], "Birkenhead and Tranmere");

    // Names are unique ignoring case.
    let again = app
        .post("/v1/teams", &app.admin(), &json!({"name": "BIRKENHEAD"}))
        .await;
    assert_eq!(again.problem(409, "duplicate")["existing_id"], json!(id));
    let blank = app
        .post("/v1/teams", &app.admin(), &json!({"name": " "}))
        .await;
    blank.problem(422, "validation_failed");
    assert_eq!(blank.field_errors()[0].0, "/name");

    // Only administrators make teams or change who belongs; coordinators read them.
    for role in [
        Role::Coordinator,
        Role::Referrer,
        Role::Partner,
        Role::Commissioner,
    ] {
        let token = app.member(role).await;
        app.post("/v1/teams", &token, &json!({"name": "Other"}))
            .await
            .problem(403, "forbidden");
    }
    let coordinator = app.coordinator();
    let listed = app.get("/v1/teams", &coordinator).await;
    assert_eq!(ids(&listed), [id.to_string()]);
    assert_eq!(
        app.get(&format!("/v1/teams/{id}"), &coordinator).await.body["name"],
        "Birkenhead"
    );
    for role in [Role::Referrer, Role::Partner, Role::Commissioner] {
        let token = app.member(role).await;
        app.get("/v1/teams", &token).await.problem(403, "forbidden");
        app.get(&format!("/v1/teams/{id}"), &token)
            .await
            .problem(403, "forbidden");
        app.get(&format!("/v1/teams/{id}/members"), &token)
            .await
            .problem(403, "forbidden");
    }
    app.get(&format!("/v1/teams/{}", Uuid::now_v7()), &coordinator)
        .await
        .problem(404, "not_found");

    // A coordinator belongs to one or more teams; nobody else belongs to any.
    let (worker, worker_token) = app.user(Role::Coordinator, None).await;
    let other = team(&app, "Wallasey").await;
    let joined = join(&app, id, worker).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.text);
    assert_eq!(joined.body["user_id"], json!(worker));
    assert_eq!(join(&app, other, worker).await.status, StatusCode::OK);
    // Joining again changes nothing.
    let twice = join(&app, id, worker).await;
    assert_eq!(twice.body["added_at"], joined.body["added_at"]);
    let (admin_user, _) = app.user(Role::Admin, None).await;
    join(&app, id, admin_user)
        .await
        .problem(422, "validation_failed");
    join(&app, id, Uuid::now_v7())
        .await
        .problem(404, "not_found");
    join(&app, Uuid::now_v7(), worker)
        .await
        .problem(404, "not_found");
    app.call(
        Method::PUT,
        &format!("/v1/teams/{id}/members/{worker}"),
        Some(&worker_token),
        None,
    )
    .await
    .problem(403, "forbidden");

    let members = app
        .get(&format!("/v1/teams/{id}/members"), &coordinator)
        .await;
    assert_eq!(members.status, StatusCode::OK, "{}", members.text);
    assert_eq!(members.body["items"][0]["user_id"], json!(worker));
    assert_eq!(members.body["items"].as_array().map(Vec::len), Some(1));

    let path = format!("/v1/teams/{id}/members/{worker}");
    let left = app
        .call(Method::DELETE, &path, Some(&app.admin()), None)
        .await;
    assert_eq!(left.status, StatusCode::NO_CONTENT, "{}", left.text);
    app.call(Method::DELETE, &path, Some(&app.admin()), None)
        .await
        .problem(404, "not_found");
    let members = app
        .get(&format!("/v1/teams/{id}/members"), &coordinator)
        .await;
    assert_eq!(members.body["items"], json!([]));
}

/// A referral handed over leaves its link worker for the receiving team's waiting list, and
/// its history records the move between teams beside its changes of status.
#[tokio::test]
async fn a_handover_moves_a_referral_to_the_receiving_teams_waiting_list() {
    let app = TestApp::spawn().await;
    let gp = app.organisation("The Surgery", "gp_practice").await;
    let west = team(&app, "West").await;
    let east = team(&app, "East").await;
    let (ana, ana_token) = app.user(Role::Coordinator, None).await;
    let (ben, _) = app.user(Role::Coordinator, None).await;
    join(&app, west, ana).await;
    join(&app, east, ben).await;
    let id = app.accepted(gp, "LAC-1").await;

    // Its first team.
    let first = hand_over(
        &app,
        &ana_token,
        id,
        2,
        json!({"team_id": west, "reason": "Lives in West Kirby"}),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["team_id"], json!(west));
    assert_eq!(first.header("etag"), Some("\"3\""));
    // Assigned within its team only.
    let assign = |user: Uuid, version: i64| {
        let app = &app;
        async move {
            app.change(
                Method::PUT,
                &format!("/v1/referrals/{id}/assignee"),
                &app.coordinator(),
                version,
                Some(&json!({"user_id": user})),
            )
            .await
        }
    };
    let refused = assign(ben, 3).await;
    refused.problem(422, "validation_failed");
    assert_eq!(
        refused.field_errors(),
        [("/user_id".to_owned(), "not_a_team_member".to_owned())]
    );
    assert_eq!(assign(ana, 3).await.status, StatusCode::OK);
    let active = app
        .transition(id, &ana_token, 4, &json!({"to": "active"}))
        .await;
    assert_eq!(active.status, StatusCode::OK, "{}", active.text);

    // An active referral keeps a link worker: the receiving team must name one, or it is
    // put on hold first.
    let reason = "Moved to Liscard; introduced to the East team";
    hand_over(
        &app,
        &ana_token,
        id,
        5,
        json!({"team_id": east, "reason": reason}),
    )
    .await
    .problem(409, "assignee_required");
    let wrong = hand_over(
        &app,
        &ana_token,
        id,
        5,
        json!({"team_id": east, "reason": reason, "assignee_id": ana}),
    )
    .await;
    wrong.problem(422, "validation_failed");
    assert_eq!(
        wrong.field_errors(),
        [("/assignee_id".to_owned(), "not_a_team_member".to_owned())]
    );
    hand_over(
        &app,
        &ana_token,
        id,
        5,
        json!({"team_id": west, "reason": reason}),
    )
    .await
    .problem(409, "same_team");
    let unknown = hand_over(
        &app,
        &ana_token,
        id,
        5,
        json!({"team_id": Uuid::now_v7(), "reason": reason}),
    )
    .await;
    assert_eq!(
        unknown.field_errors(),
        [("/team_id".to_owned(), "unknown_team".to_owned())]
    );
    hand_over(
        &app,
        &ana_token,
        id,
        4,
        json!({"team_id": east, "reason": reason}),
    )
    .await
    .problem(412, "precondition_failed");
    let no_reason = hand_over(&app, &ana_token, id, 5, json!({"team_id": east})).await;
    no_reason.problem(422, "validation_failed");
    let on_hold = app
        .transition(
            id,
            &ana_token,
            5,
            &json!({"to": "on_hold", "reason": "Moving house"}),
        )
        .await;
    assert_eq!(on_hold.status, StatusCode::OK, "{}", on_hold.text);

    let moved = hand_over(
        &app,
        &ana_token,
        id,
        6,
        json!({"team_id": east, "reason": reason}),
    )
    .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    assert_eq!(moved.body["team_id"], json!(east));
    assert_eq!(moved.body["assignee_id"], json!(null));
    assert_eq!(moved.body["status"], "on_hold");

    // On the receiving team's waiting list, not on the sending team's or on a caseload.
    let coordinator = app.coordinator();
    let waiting = app
        .get(
            &format!("/v1/referrals?team_id={east}&assignee=none"),
            &coordinator,
        )
        .await;
    assert_eq!(ids(&waiting), [id.to_string()]);
    let west_list = app
        .get(&format!("/v1/referrals?team_id={west}"), &coordinator)
        .await;
    assert_eq!(ids(&west_list), Vec::<String>::new());
    let caseload = app
        .get(
            &format!("/v1/reports/caseload?team_id={east}"),
            &coordinator,
        )
        .await;
    assert_eq!(caseload.status, StatusCode::OK, "{}", caseload.text);
    assert_eq!(caseload.body["team_id"], json!(east));
    assert_eq!(caseload.body["waiting_list"]["count"], 1);
    assert_eq!(caseload.body["link_workers"], json!([]));
    let west_caseload = app
        .get(
            &format!("/v1/reports/caseload?team_id={west}"),
            &coordinator,
        )
        .await;
    assert_eq!(west_caseload.body["waiting_list"]["count"], 0);
    app.get(
        &format!("/v1/reports/caseload?team_id={}", Uuid::now_v7()),
        &coordinator,
    )
    .await
    .problem(404, "not_found");

    // The history: status changes and moves between teams, oldest first.
    let history = app
        .get(&format!("/v1/referrals/{id}/history"), &coordinator)
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.text);
    let entries: Vec<(String, String, serde_json::Value)> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["to"].as_str().unwrap().to_owned(),
                e["to_team_id"].clone(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("status".to_owned(), "received".to_owned(), json!(null)),
            ("status".to_owned(), "accepted".to_owned(), json!(null)),
            ("team".to_owned(), "accepted".to_owned(), json!(west)),
            ("status".to_owned(), "active".to_owned(), json!(null)),
            ("status".to_owned(), "on_hold".to_owned(), json!(null)),
            ("team".to_owned(), "on_hold".to_owned(), json!(east)),
        ]
    );
    let last = &history.body["items"][5];
    assert_eq!(last["from_team_id"], json!(west));
    assert_eq!(last["reason"], reason);
    assert_eq!(last["by"], json!(ana.to_string()));
    assert_eq!(last["role"], "coordinator");
    // Paged one at a time, the history is the same.
    let mut walked = Vec::new();
    let mut path = format!("/v1/referrals/{id}/history?limit=1");
    loop {
        let page = app.get(&path, &coordinator).await;
        walked.extend(ids(&page));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/referrals/{id}/history?limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(walked, ids(&history));

    // A referrer sees neither the team nor the team filter.
    let referrer = app.referrer(gp);
    let seen = app.get(&format!("/v1/referrals/{id}"), &referrer).await;
    assert_eq!(seen.status, StatusCode::OK);
    assert!(seen.body.get("team_id").is_none(), "{}", seen.text);
    let filtered = app
        .get(&format!("/v1/referrals?team_id={east}"), &referrer)
        .await;
    filtered.problem(400, "invalid_parameter");
    assert_eq!(
        filtered.field_errors(),
        [("team_id".to_owned(), "staff_only".to_owned())]
    );
    // Nor may it hand over, nor may a partner.
    hand_over(
        &app,
        &referrer,
        id,
        7,
        json!({"team_id": west, "reason": "x"}),
    )
    .await
    .problem(403, "forbidden");
    let partner = app.member(Role::Partner).await;
    hand_over(
        &app,
        &partner,
        id,
        7,
        json!({"team_id": west, "reason": "x"}),
    )
    .await
    .problem(403, "forbidden");

    // A final referral's team no longer changes.
    let closed = app
        .transition(
            id,
            &coordinator,
            7,
            &json!({"to": "closed", "reason_code": "moved_away", "reason": "Left the area"}),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.text);
    hand_over(
        &app,
        &coordinator,
        id,
        8,
        json!({"team_id": west, "reason": "Back"}),
    )
    .await
    .problem(409, "referral_final");
}

/// The receiving team's link worker can take a handover straight onto their caseload, an
/// active referral included.
#[tokio::test]
async fn a_handover_can_name_the_receiving_link_worker() {
    let app = TestApp::spawn().await;
    let gp = app.organisation("The Surgery", "gp_practice").await;
    let east = team(&app, "East").await;
    let (ben, _) = app.user(Role::Coordinator, None).await;
    let (cy, _) = app.user(Role::Coordinator, None).await;
    join(&app, east, ben).await;
    let id = app.accepted(gp, "LAC-2").await;
    let coordinator = app.coordinator();
    let assigned = app
        .change(
            Method::PUT,
            &format!("/v1/referrals/{id}/assignee"),
            &coordinator,
            2,
            Some(&json!({"user_id": cy})),
        )
        .await;
    assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.text);
    let active = app
        .transition(id, &coordinator, 3, &json!({"to": "active"}))
        .await;
    assert_eq!(active.status, StatusCode::OK, "{}", active.text);

    let moved = hand_over(
        &app,
        &coordinator,
        id,
        4,
        json!({"team_id": east, "reason": "Closer to home", "assignee_id": ben}),
    )
    .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    assert_eq!(moved.body["team_id"], json!(east));
    assert_eq!(moved.body["assignee_id"], json!(ben));
    assert_eq!(moved.body["status"], "active");
    let mine = app
        .get(
            &format!("/v1/referrals?team_id={east}&assignee={ben}"),
            &coordinator,
        )
        .await;
    assert_eq!(ids(&mine), [id.to_string()]);
    // The audit trail names the handover.
    let trail = app
        .get(
            &format!("/v1/audit-events?referral_id={id}&action=referral.hand_over"),
            &app.admin(),
        )
        .await;
    assert_eq!(trail.status, StatusCode::OK, "{}", trail.text);
    assert_eq!(
        trail.body["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        trail.text
    );
}

/// The activity report breaks down by team, and counts one team's referrals on its own; a
/// handover moves a referral's figures to its new team.
#[tokio::test]
async fn reports_break_down_by_team_and_follow_a_handover() {
    let app = TestApp::spawn().await;
    let gp = app.organisation("The Surgery", "gp_practice").await;
    let west = team(&app, "West").await;
    let east = team(&app, "East").await;
    let coordinator = app.coordinator();
    let mut referrals = Vec::new();
    for (i, to) in [west, west, east].into_iter().enumerate() {
        let id = app.accepted(gp, &format!("BY-TEAM-{i}")).await;
        let moved = hand_over(
            &app,
            &coordinator,
            id,
            2,
            json!({"team_id": to, "reason": "Local"}),
        )
        .await;
        assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
        referrals.push(id);
    }
    app.accepted(gp, "NO-TEAM").await;
    let today = chrono::Utc::now().date_naive();
    let period = format!("from={today}&to={today}");
    let report = |query: String| {
        let app = &app;
        async move {
            let reply = app
                .get(&format!("/v1/reports/activity?{query}"), &app.admin())
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
            reply.body
        }
    };
    let all = report(period.clone()).await;
    assert_eq!(all["referrals_received"], 4);
    assert_eq!(
        all["by_team"],
        json!({west.to_string(): 2, east.to_string(): 1, "none": 1})
    );
    assert_eq!(all["team_id"], json!(null));
    let of_west = report(format!("{period}&team_id={west}")).await;
    assert_eq!(of_west["team_id"], json!(west));
    assert_eq!(of_west["referrals_received"], 2);
    assert_eq!(of_west["people_referred"], 1, "one person, referred twice");

    // Handed over, a referral counts for its new team, from the day it was received.
    hand_over(
        &app,
        &coordinator,
        referrals[0],
        3,
        json!({"team_id": east, "reason": "Moved"}),
    )
    .await;
    assert_eq!(
        report(format!("{period}&team_id={west}")).await["referrals_received"],
        1
    );
    assert_eq!(
        report(format!("{period}&team_id={east}")).await["referrals_received"],
        2
    );

    let both = app
        .get(
            &format!("/v1/reports/activity?{period}&team_id={west}&referrer_org_id={gp}"),
            &app.admin(),
        )
        .await;
    both.problem(400, "invalid_parameter");
    assert_eq!(
        both.field_errors(),
        [("team_id".to_owned(), "one_scope".to_owned())]
    );

    // Commissioners see a team's small numbers suppressed like any other.
    let commissioner = app.token(Role::Commissioner, None);
    let seen = app
        .get(
            &format!("/v1/reports/activity?{period}&team_id={east}"),
            &commissioner,
        )
        .await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.text);
    assert_eq!(seen.body["referrals_received"], json!(null));
    assert!(
        seen.body["suppressed"]
            .as_array()
            .unwrap()
            .contains(&json!("/referrals_received"))
    );
}
