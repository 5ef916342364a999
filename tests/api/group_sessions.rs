//! Group work (LifeLink): a group session is recorded once, with the link workers who run it
//! and the people booked on it; marking who came sets their first contact and shows in their
//! referral's sessions; reports count the session once, each place per person, and staff time
//! once per facilitator.

use chrono::{Duration, SecondsFormat, Utc};
use linkwell_domain::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use diesel::RunQueryDsl;

use crate::support::{Reply, TestApp, backend};

fn at(offset: Duration) -> String {
    (Utc::now() + offset).to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn today() -> String {
    Utc::now().date_naive().to_string()
}

async fn made(reply: Reply) -> Uuid {
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.id()
}

/// Books `referral` on `group`, as a link worker.
async fn book(app: &TestApp, group: Uuid, referral: Uuid) -> Reply {
    app.post(
        &format!("/v1/group-sessions/{group}/attendees"),
        &app.coordinator(),
        &json!({"referral_id": referral}),
    )
    .await
}

async fn mark(app: &TestApp, group: Uuid, referral: Uuid, attendance: &str) -> Reply {
    app.send(
        Method::PUT,
        &format!("/v1/group-sessions/{group}/attendees/{referral}"),
        &app.coordinator(),
        Some(&json!({"attendance": attendance})),
        &[],
    )
    .await
}

async fn group_report(app: &TestApp, scope: &str) -> Value {
    let path = format!(
        "/v1/reports/activity?from={}&to={}{scope}",
        today(),
        today()
    );
    let report = app.get(&path, &app.admin()).await;
    assert_eq!(report.status, 200, "{}", report.text);
    report.body
}

#[tokio::test]
async fn a_group_session_counts_once_its_places_per_person_and_its_time_per_facilitator() {
    let app = TestApp::spawn().await;
    let staff = app.coordinator();
    let practice = app.organisation("The Surgery", "gp_practice").await;
    let other_practice = app.organisation("Other Surgery", "gp_practice").await;
    let (sam, _) = app.user(Role::Coordinator, None).await;
    let (jo, _) = app.user(Role::Coordinator, None).await;
    let [ann, bob, cat] = [
        app.accepted(practice, "G-1").await,
        app.accepted(practice, "G-2").await,
        app.accepted(practice, "G-3").await,
    ];
    // Just now: after the referrals came (a place is never on a session before that).
    let began = at(Duration::zero());

    // Recorded once, by the link workers who run it.
    let created = app
        .post(
            "/v1/group-sessions",
            &staff,
            &json!({"kind": "peer_support", "mode": "face_to_face", "scheduled_at": began,
                    "facilitators": [sam, jo], "title": "Coffee and chat"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let group = created.id();
    assert_eq!(
        created.header("location"),
        Some(format!("/v1/group-sessions/{group}").as_str())
    );
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(created.body["status"], "scheduled");
    assert_eq!(created.body["facilitators"], json!([sam, jo]));
    assert_eq!(created.body["staff_minutes"], 0);
    let read = app
        .get(&format!("/v1/group-sessions/{group}"), &staff)
        .await;
    assert_eq!(read.body, created.body);
    let listed = app.get("/v1/group-sessions", &staff).await;
    assert_eq!(listed.body["items"][0]["id"], json!(group));

    // People are booked by referral, once each.
    let places = format!("/v1/group-sessions/{group}/attendees");
    let mut booked = Vec::new();
    for referral in [ann, bob, cat] {
        let place = app
            .post(&places, &staff, &json!({"referral_id": referral}))
            .await;
        assert_eq!(place.status, 201, "{}", place.text);
        assert_eq!(place.body["attendance"], "booked");
        booked.push(place.id());
    }
    let again = app
        .post(&places, &staff, &json!({"referral_id": ann}))
        .await;
    again.problem(409, "duplicate");
    assert_eq!(again.body["existing_id"], json!(booked[0].to_string()));
    let nobody = app
        .post(&places, &staff, &json!({"referral_id": Uuid::now_v7()}))
        .await;
    assert_eq!(
        nobody.field_errors(),
        [("/referral_id".to_owned(), "unknown_referral".to_owned())]
    );

    // Who came is marked once the session is recorded held, with its length.
    mark(&app, group, ann, "attended")
        .await
        .problem(409, "group_session_not_held");
    let path = format!("/v1/group-sessions/{group}");
    let no_length = app
        .change(
            Method::PATCH,
            &path,
            &staff,
            1,
            Some(&json!({"status": "held"})),
        )
        .await;
    assert_eq!(
        no_length.field_errors(),
        [("/duration_minutes".to_owned(), "required".to_owned())]
    );
    let held = app
        .change(
            Method::PATCH,
            &path,
            &staff,
            1,
            Some(&json!({"status": "held", "duration_minutes": 90})),
        )
        .await;
    assert_eq!(held.status, 200, "{}", held.text);
    assert_eq!(
        held.body["staff_minutes"], 180,
        "90 minutes, two facilitators"
    );
    app.change(
        Method::PATCH,
        &path,
        &staff,
        2,
        Some(&json!({"scheduled_at": at(-Duration::hours(5))})),
    )
    .await
    .problem(409, "group_session_final");
    app.change(
        Method::PATCH,
        &path,
        &staff,
        2,
        Some(&json!({"status": "scheduled"})),
    )
    .await
    .problem(409, "invalid_transition");

    let came = mark(&app, group, ann, "attended").await;
    assert_eq!(came.status, 200, "{}", came.text);
    assert_eq!(came.body["attendance"], "attended");
    assert_eq!(came.header("etag"), Some("\"2\""));
    let same = mark(&app, group, ann, "attended").await;
    assert_eq!(
        same.header("etag"),
        Some("\"2\""),
        "marking again changes nothing"
    );
    let missed = mark(&app, group, bob, "did_not_attend").await;
    assert_eq!(missed.status, 200, "{}", missed.text);
    mark(&app, group, Uuid::now_v7(), "attended")
        .await
        .problem(404, "not_found");

    // Attending is a first contact, as a one-to-one session is.
    let first_contact = |referral: Uuid| {
        let app = &app;
        async move {
            app.get(&format!("/v1/referrals/{referral}"), &app.coordinator())
                .await
                .body["first_contact_at"]
                .clone()
        }
    };
    assert_eq!(first_contact(ann).await, read.body["scheduled_at"]);
    assert_eq!(first_contact(bob).await, Value::Null);

    // Each referral's sessions show its place on the group.
    let sessions = app
        .get(&format!("/v1/referrals/{ann}/sessions"), &staff)
        .await;
    assert_eq!(sessions.status, 200, "{}", sessions.text);
    let item = &sessions.body["items"][0];
    assert_eq!(sessions.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(item["id"], json!(booked[0]));
    assert_eq!(item["group_session_id"], json!(group));
    assert_eq!(item["kind"], "group");
    assert_eq!(item["status"], "attended");
    assert_eq!(item["duration_minutes"], 90);
    assert_eq!(item["scheduled_at"], read.body["scheduled_at"]);
    let bobs = app
        .get(&format!("/v1/referrals/{bob}/sessions"), &staff)
        .await;
    assert_eq!(bobs.body["items"][0]["status"], "did_not_attend");
    assert_eq!(bobs.body["items"][0]["duration_minutes"], Value::Null);

    // A marked place stays; an unmarked one may be taken off.
    app.call(
        Method::DELETE,
        &format!("{places}/{bob}"),
        Some(&staff),
        None,
    )
    .await
    .problem(409, "attendance_marked");
    let off = app
        .call(
            Method::DELETE,
            &format!("{places}/{cat}"),
            Some(&staff),
            None,
        )
        .await;
    assert_eq!(off.status, 204, "{}", off.text);
    let left = app.get(&places, &staff).await;
    let ids: Vec<&str> = left.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["referral_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [ann.to_string(), bob.to_string()]);

    // The report: one session held, one place attended and one missed, three staff hours;
    // no one-to-one time.
    let service = group_report(&app, "").await;
    assert_eq!(
        service["group_sessions"],
        json!({"held": 1, "attendances": {"attended": 1, "did_not_attend": 1},
               "staff_hours": 3.0})
    );
    assert_eq!(service["sessions"]["total"], 0);
    let theirs = group_report(&app, &format!("&referrer_org_id={practice}")).await;
    assert_eq!(theirs["group_sessions"]["held"], 1);
    let elsewhere = group_report(&app, &format!("&referrer_org_id={other_practice}")).await;
    assert_eq!(
        elsewhere["group_sessions"],
        json!({"held": 0, "attendances": {"attended": 0, "did_not_attend": 0},
               "staff_hours": 0.0})
    );
}

#[tokio::test]
async fn group_sessions_are_checked_and_staff_only() {
    let app = TestApp::spawn().await;
    let staff = app.coordinator();
    let practice = app.organisation("The Surgery", "gp_practice").await;
    let (sam, _) = app.user(Role::Coordinator, None).await;
    let (clerk, _) = app.user(Role::Referrer, Some(practice)).await;
    let referral = app.accepted(practice, "G-9").await;
    let body = |facilitators: Value| {
        json!({"kind": "course", "mode": "video", "scheduled_at": at(Duration::days(2)),
               "facilitators": facilitators, "title": "Money matters"})
    };

    for (facilitators, code) in [
        (json!([clerk]), "not_a_coordinator"),
        (json!([Uuid::now_v7()]), "unknown_user"),
    ] {
        let refused = app
            .post("/v1/group-sessions", &staff, &body(facilitators))
            .await;
        assert_eq!(
            refused.field_errors(),
            [("/facilitators/0".to_owned(), code.to_owned())]
        );
    }
    let empty = app
        .post("/v1/group-sessions", &staff, &body(json!([])))
        .await;
    empty.problem(422, "validation_failed");
    let future_held = app
        .post(
            "/v1/group-sessions",
            &staff,
            &json!({"kind": "course", "mode": "video", "scheduled_at": at(Duration::days(2)),
                    "facilitators": [sam], "title": "Money matters", "status": "held",
                    "duration_minutes": 60}),
        )
        .await;
    assert_eq!(
        future_held.field_errors(),
        [("/scheduled_at".to_owned(), "in_future".to_owned())]
    );
    let partner_org = app.organisation("Citizens Advice", "partner").await;
    for (role, org) in [
        (Role::Referrer, Some(practice)),
        (Role::Partner, Some(partner_org)),
        (Role::Commissioner, None),
    ] {
        let token = app.token(role, org);
        app.post("/v1/group-sessions", &token, &body(json!([sam])))
            .await
            .problem(403, "forbidden");
        app.get("/v1/group-sessions", &token)
            .await
            .problem(403, "forbidden");
    }

    // A cancelled session takes no bookings and no marks.
    let group = made(
        app.post("/v1/group-sessions", &staff, &body(json!([sam])))
            .await,
    )
    .await;
    let places = format!("/v1/group-sessions/{group}/attendees");
    made(
        app.post(&places, &staff, &json!({"referral_id": referral}))
            .await,
    )
    .await;
    let cancelled = app
        .change(
            Method::PATCH,
            &format!("/v1/group-sessions/{group}"),
            &staff,
            1,
            Some(&json!({"status": "cancelled"})),
        )
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    let other = app.accepted(practice, "G-10").await;
    app.post(&places, &staff, &json!({"referral_id": other}))
        .await
        .problem(409, "group_session_cancelled");
    mark(&app, group, referral, "attended")
        .await
        .problem(409, "group_session_cancelled");
    let sessions = app
        .get(&format!("/v1/referrals/{referral}/sessions"), &staff)
        .await;
    assert_eq!(sessions.body["items"][0]["status"], "cancelled_by_service");
    app.get("/v1/group-sessions/not-an-id", &staff)
        .await
        .problem(400, "invalid_parameter");
    app.get(&format!("/v1/group-sessions/{}", Uuid::now_v7()), &staff)
        .await
        .problem(404, "not_found");

    // A group is recorded here once, never as a person's own session: recorded per person
    // too, it would be counted again.
    let own = format!("/v1/referrals/{other}/sessions");
    let as_group = app
        .post(
            &own,
            &staff,
            &json!({"kind": "group", "mode": "phone", "scheduled_at": at(Duration::days(1))}),
        )
        .await;
    as_group.problem(422, "validation_failed");
    assert_eq!(
        as_group.field_errors(),
        [("/kind".to_owned(), "group_session".to_owned())]
    );
    let session = made(
        app.post(
            &own,
            &staff,
            &json!({"kind": "coaching", "mode": "phone", "scheduled_at": at(Duration::days(1))}),
        )
        .await,
    )
    .await;
    let regrouped = app
        .change(
            Method::PATCH,
            &format!("/v1/sessions/{session}"),
            &staff,
            1,
            Some(&json!({"kind": "group"})),
        )
        .await;
    assert_eq!(
        regrouped.field_errors(),
        [("/kind".to_owned(), "group_session".to_owned())]
    );
}

#[tokio::test]
async fn community_work_is_recorded_for_a_group_and_counted_beside_one_to_one_hours() {
    let app = TestApp::spawn().await;
    let staff = app.coordinator();
    let practice = app.organisation("The Surgery", "gp_practice").await;
    let runner = app.organisation("Bury Allotments", "community_group").await;
    let allotment = made(
        app.post(
            "/v1/directory/services",
            &app.admin(),
            &json!({"name": "Community allotment", "description": "Grow together.",
                    "needs": ["healthy_lifestyle"], "organisation_id": runner,
                    "accepts_referrals": false}),
        )
        .await,
    )
    .await;
    let team = made(
        app.post("/v1/teams", &app.admin(), &json!({"name": "East"}))
            .await,
    )
    .await;

    // For a group in the directory, or a new one by name.
    let supported = app
        .post(
            "/v1/community-work",
            &staff,
            &json!({"group": {"service_id": allotment}, "activity": "volunteers",
                    "minutes": 90, "occurred_at": at(-Duration::hours(3)),
                    "notes": "Recruited two new volunteers for Saturdays."}),
        )
        .await;
    assert_eq!(supported.status, 201, "{}", supported.text);
    let id = supported.id();
    assert_eq!(
        supported.header("location"),
        Some(format!("/v1/community-work/{id}").as_str())
    );
    assert_eq!(
        supported.body["group"],
        json!({"service_id": allotment, "name": null})
    );
    assert_eq!(supported.body["activity"], "volunteers");
    assert_eq!(supported.body["team_id"], Value::Null);
    let started = app
        .post(
            "/v1/community-work",
            &staff,
            &json!({"group": {"name": "Knit and natter"}, "activity": "starting",
                    "minutes": 30, "occurred_at": at(-Duration::hours(1)), "team_id": team}),
        )
        .await;
    assert_eq!(started.status, 201, "{}", started.text);
    assert_eq!(
        started.body["group"],
        json!({"service_id": null, "name": "Knit and natter"})
    );
    let read = app.get(&format!("/v1/community-work/{id}"), &staff).await;
    assert_eq!(read.body, supported.body);
    let listed = app.get("/v1/community-work", &staff).await;
    let ids: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [started.id().to_string(), id.to_string()],
        "newest first"
    );

    // Refused: both or neither, an unknown service or team, the future, a zero length.
    let base = json!({"group": {"name": "Walking group"}, "activity": "supporting",
                      "minutes": 60, "occurred_at": at(-Duration::hours(1))});
    let with = |changes: Value| {
        let mut body = base.clone();
        for (k, v) in changes.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    for (changes, pointer, code) in [
        (
            json!({"group": {"name": "Walking group", "service_id": allotment}}),
            "/group",
            "one_of",
        ),
        (json!({"group": {}}), "/group", "one_of"),
        (
            json!({"group": {"service_id": Uuid::now_v7()}}),
            "/group/service_id",
            "unknown_service",
        ),
        (
            json!({"team_id": Uuid::now_v7()}),
            "/team_id",
            "unknown_team",
        ),
        (
            json!({"occurred_at": at(Duration::hours(1))}),
            "/occurred_at",
            "in_future",
        ),
        (json!({"minutes": 0}), "/minutes", "out_of_range"),
    ] {
        let refused = app
            .post("/v1/community-work", &staff, &with(changes.clone()))
            .await;
        assert_eq!(
            refused.field_errors(),
            [(pointer.to_owned(), code.to_owned())],
            "{changes}"
        );
    }
    let partner_org = app.organisation("Citizens Advice", "partner").await;
    for (role, org) in [
        (Role::Referrer, Some(practice)),
        (Role::Partner, Some(partner_org)),
        (Role::Commissioner, None),
    ] {
        let token = app.token(role, org);
        app.post("/v1/community-work", &token, &base)
            .await
            .problem(403, "forbidden");
    }
    app.get(&format!("/v1/community-work/{}", Uuid::now_v7()), &staff)
        .await
        .problem(404, "not_found");

    // Its hours sit beside the one-to-one hours: the service's, a team's, none for a practice.
    let service = group_report(&app, "").await;
    assert_eq!(
        service["community_work"],
        json!({"records": 2, "hours": 2.0})
    );
    assert_eq!(service["sessions"]["one_to_one_hours"], 0.0);
    let east = group_report(&app, &format!("&team_id={team}")).await;
    assert_eq!(east["community_work"], json!({"records": 1, "hours": 0.5}));
    let surgery = group_report(&app, &format!("&referrer_org_id={practice}")).await;
    assert_eq!(
        surgery["community_work"],
        json!({"records": 0, "hours": 0.0})
    );
}

/// Booking a place reads the referral's status under its lock, taken before the group's (as
/// marking and removing take them): a referral closed meanwhile gets no place, and two
/// writers never wait on each other's locks in opposite orders.
#[tokio::test]
async fn a_booking_waits_for_the_referrals_lock_and_sees_it_closed() {
    let app = TestApp::spawn().await;
    let staff = app.coordinator();
    let practice = app.organisation("The Surgery", "gp_practice").await;
    let (sam, _) = app.user(Role::Coordinator, None).await;
    let referral = app.accepted(practice, "G-LOCK").await;
    let group = made(
        app.post(
            "/v1/group-sessions",
            &staff,
            &json!({"kind": "drop_in", "mode": "face_to_face", "scheduled_at": at(Duration::days(1)),
                    "facilitators": [sam], "title": "Coffee morning"}),
        )
        .await,
    )
    .await;
    let mut raw = app.db();
    let (begin, hold) = if backend() == "postgres" {
        (
            "BEGIN",
            format!("SELECT id FROM referrals WHERE id = '{referral}' FOR NO KEY UPDATE"),
        )
    } else {
        (
            "BEGIN IMMEDIATE",
            "UPDATE feed_clock SET last = last".to_owned(),
        )
    };
    diesel::sql_query(begin).execute(&mut raw).unwrap();
    diesel::sql_query(hold).execute(&mut raw).unwrap();
    let booking = {
        let client = app.client.clone();
        let url = app.url(&format!("/v1/group-sessions/{group}/attendees"));
        let token = staff.clone();
        tokio::spawn(async move {
            Reply::from_response(
                client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"referral_id": referral}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // Closed by a writer holding the lock (as a transition would), while the booking waits.
    diesel::sql_query(format!(
        "UPDATE referrals SET status = 'withdrawn', version = version + 1 WHERE id = '{referral}'"
    ))
    .execute(&mut raw)
    .unwrap();
    diesel::sql_query("COMMIT").execute(&mut raw).unwrap();
    booking.await.unwrap().problem(409, "referral_not_open");
    let places = app
        .get(&format!("/v1/group-sessions/{group}/attendees"), &staff)
        .await;
    assert_eq!(places.body["items"], json!([]));
}

/// An erased person's referral is as if it never was: booking it is answered as for a
/// referral that does not exist (not as a closed one, which would tell them apart), and its
/// old place is listed to nobody and no longer takes one of the group's places.
#[tokio::test]
async fn an_erased_persons_referral_books_no_place_and_holds_none() {
    let app = TestApp::spawn().await;
    let staff = app.coordinator();
    let practice = app.organisation("The Surgery", "gp_practice").await;
    let (sam, _) = app.user(Role::Coordinator, None).await;
    let referral = app.accepted(practice, "G-ERASED").await;
    let group = |title: &str| {
        json!({"kind": "course", "mode": "face_to_face", "scheduled_at": at(Duration::days(1)),
               "facilitators": [sam], "title": title})
    };
    let first = made(
        app.post("/v1/group-sessions", &staff, &group("Cookery"))
            .await,
    )
    .await;
    let second = made(
        app.post("/v1/group-sessions", &staff, &group("Walking"))
            .await,
    )
    .await;
    made(book(&app, first, referral).await).await;
    let closed = app
        .transition(
            referral,
            &staff,
            2,
            &json!({"to": "closed", "reason_code": "goals_met", "reason": "Done"}),
        )
        .await;
    assert_eq!(closed.status, 200, "{}", closed.text);
    let person = closed.body["person_id"].as_str().unwrap().to_owned();
    let erased = app
        .post(
            &format!("/v1/people/{person}/erasure"),
            &app.admin(),
            &json!({"reason": "The person asked"}),
        )
        .await;
    assert_eq!(erased.status, 200, "{}", erased.text);

    for named in [referral, Uuid::now_v7()] {
        let booking = book(&app, second, named).await;
        assert_eq!(booking.status, 422, "{}", booking.text);
        assert_eq!(
            booking.field_errors(),
            [("/referral_id".to_owned(), "unknown_referral".to_owned())]
        );
    }
    let listed = app
        .get(&format!("/v1/group-sessions/{first}/attendees"), &staff)
        .await;
    assert_eq!(listed.body["items"], json!([]), "{}", listed.text);
    let held = linkwell_persistence::group_sessions::count_attendees(&mut app.db(), first).unwrap();
    assert_eq!(held, 0);
}

/// No place on a group session held before the referral was received, as no one-to-one
/// session may be: its attendance would be a first contact before the referral, and a
/// negative wait in the reports.
#[tokio::test]
async fn a_group_session_before_the_referral_gives_it_no_place_and_no_contact() {
    let app = TestApp::spawn().await;
    let staff = app.coordinator();
    let practice = app.organisation("The Surgery", "gp_practice").await;
    let (sam, _) = app.user(Role::Coordinator, None).await;
    let referral = app.accepted(practice, "G-EARLY").await;
    let group = |when: Duration| {
        json!({"kind": "activity", "mode": "face_to_face", "scheduled_at": at(when),
               "facilitators": [sam], "title": "Allotment day"})
    };
    let past = made(
        app.post("/v1/group-sessions", &staff, &group(-Duration::days(2)))
            .await,
    )
    .await;
    book(&app, past, referral)
        .await
        .problem(409, "before_received");

    // Booked while ahead, then recorded as held earlier than the referral came.
    let moved = made(
        app.post("/v1/group-sessions", &staff, &group(Duration::days(1)))
            .await,
    )
    .await;
    made(book(&app, moved, referral).await).await;
    let held = app
        .change(
            Method::PATCH,
            &format!("/v1/group-sessions/{moved}"),
            &staff,
            1,
            Some(&json!({"status": "held", "duration_minutes": 60,
                         "scheduled_at": at(-Duration::days(1))})),
        )
        .await;
    assert_eq!(held.status, 200, "{}", held.text);
    mark(&app, moved, referral, "attended")
        .await
        .problem(409, "before_received");
    let read = app.get(&format!("/v1/referrals/{referral}"), &staff).await;
    assert_eq!(read.body["first_contact_at"], Value::Null, "{}", read.text);
}
