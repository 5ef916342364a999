//! The directory of services: staff add and correct entries; anyone reads and searches it,
//! rate limited per address when without a token.

use std::num::NonZeroU32;

use linkwell_domain::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Reply, TestApp};

const SERVICES: &str = "/v1/directory/services";

fn lunch_club() -> Value {
    json!({"name": "Tuesday Lunch Club", "description": "A hot meal and company, 50% off for carers.",
           "needs": ["loneliness", "healthy_lifestyle"], "area": "Riverside", "postcode": "ls1 4ap",
           "contact": {"phone": "0113 496 0000", "website": "https://lunch.example.org/"},
           "accepts_referrals": false})
}

async fn anonymous(app: &TestApp, path: &str) -> Reply {
    app.call(Method::GET, path, None, None).await
}

fn names(reply: &Reply) -> Vec<String> {
    reply.body["items"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|s| s["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn staff_list_services_that_anyone_can_read() {
    let app = TestApp::spawn().await;
    let advice = app.organisation("Citizens Advice Leeds", "partner").await;
    let staff = app.coordinator();
    let made = app.post(SERVICES, &staff, &lunch_club()).await;
    assert_eq!(made.status, 201, "{}", made.text);
    let id = made.id();
    let path = format!("{SERVICES}/{id}");
    assert_eq!(made.header("location"), Some(path.as_str()));
    assert_eq!(made.header("etag"), Some("\"1\""));
    assert_eq!(
        made.body,
        json!({"id": id, "name": "Tuesday Lunch Club",
               "description": "A hot meal and company, 50% off for carers.", "organisation_id": null,
               "needs": ["loneliness", "healthy_lifestyle"], "specific_needs": [],
               "area": "Riverside", "postcode": "LS1 4AP",
               "contact": {"phone": "0113 496 0000", "email": null, "website": "https://lunch.example.org/"},
               "accepts_referrals": false, "status": "active", "capacity": "available", "min_age": null,
               "max_age": null, "opening_hours": [],
               "created_at": made.body["created_at"], "updated_at": made.body["created_at"], "version": 1})
    );
    let debt = app
        .post(
            SERVICES,
            &app.admin(),
            &json!({"name": "Debt advice", "description": "Free, confidential help with money and debt.",
                    "organisation_id": advice, "needs": ["money_and_benefits"], "accepts_referrals": true,
                    "capacity": "waitlist", "min_age": 18, "contact": {"email": "Referrals@Advice.example.org"}}),
        )
        .await;
    assert_eq!(debt.status, 201, "{}", debt.text);
    assert_eq!(
        debt.body["contact"]["email"],
        "Referrals@advice.example.org"
    );
    let walks = app
        .post(
            SERVICES,
            &staff,
            &json!({"name": "Health walks", "description": "Gentle walks, lunch after.",
                    "needs": ["healthy_lifestyle"], "accepts_referrals": true, "status": "temporarily_closed"}),
        )
        .await;
    assert_eq!(walks.status, 201, "{}", walks.text);

    // Without a token: the same entry, and searches.
    let read = anonymous(&app, &path).await;
    assert_eq!((read.status.as_u16(), &read.body), (200, &made.body));
    assert_eq!(read.header("etag"), Some("\"1\""));
    let practice = app.organisation("Practice", "gp_practice").await;
    let search = |query: &str| {
        let app = &app;
        let query = query.to_owned();
        async move {
            let reply = app
                .get(&format!("{SERVICES}?{query}"), &app.referrer(practice))
                .await;
            assert_eq!(reply.status, 200, "{query}: {}", reply.text);
            names(&reply)
        }
    };
    assert_eq!(
        search("").await,
        ["Tuesday Lunch Club", "Debt advice", "Health walks"]
    );
    assert_eq!(
        search("need=healthy_lifestyle").await,
        ["Tuesday Lunch Club", "Health walks"]
    );
    assert_eq!(
        search("q=LUNCH").await,
        ["Tuesday Lunch Club", "Health walks"]
    );
    assert_eq!(
        search("q=50%25").await,
        ["Tuesday Lunch Club"],
        "% is literal"
    );
    assert_eq!(
        search("q=5_%25").await,
        Vec::<String>::new(),
        "_ is literal"
    );
    assert_eq!(search("q=confidential%20help").await, ["Debt advice"]);
    assert_eq!(search("status=temporarily_closed").await, ["Health walks"]);
    assert_eq!(search("capacity=waitlist").await, ["Debt advice"]);
    assert_eq!(
        search("accepts_referrals=true&need=healthy_lifestyle").await,
        ["Health walks"]
    );
    let first = app.get(&format!("{SERVICES}?limit=2"), &staff).await;
    assert_eq!(names(&first), ["Tuesday Lunch Club", "Debt advice"]);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let rest = anonymous(&app, &format!("{SERVICES}?limit=2&cursor={cursor}")).await;
    assert_eq!(names(&rest), ["Health walks"]);
    assert_eq!(rest.body["next_cursor"], json!(null));
    anonymous(
        &app,
        &format!("{SERVICES}?limit=2&cursor={cursor}&need=family"),
    )
    .await
    .problem(400, "invalid_parameter");
    for (query, name, code) in [
        ("need=boredom", "need", "unknown_code"),
        ("q=%20%20", "q", "blank"),
        ("capacity=some", "capacity", "unknown_code"),
        (
            "accepts_referrals=yes",
            "accepts_referrals",
            "invalid_boolean",
        ),
        ("sort=name", "sort", "invalid_parameter"),
    ] {
        let reply = anonymous(&app, &format!("{SERVICES}?{query}")).await;
        reply.problem(400, "invalid_parameter");
        assert_eq!(
            reply.field_errors(),
            [(name.to_owned(), code.to_owned())],
            "{query}"
        );
    }
    anonymous(&app, &format!("{SERVICES}/{}", Uuid::new_v4()))
        .await
        .problem(404, "not_found");
    // A token that is sent must be good.
    app.get(SERVICES, "not-a-token")
        .await
        .problem(401, "unauthorized");
}

#[tokio::test]
async fn staff_correct_entries_with_if_match() {
    let app = TestApp::spawn().await;
    let advice = app.organisation("Citizens Advice Leeds", "partner").await;
    let staff = app.coordinator();
    let made = app.post(SERVICES, &staff, &lunch_club()).await;
    let path = format!("{SERVICES}/{}", made.id());
    let patch = json!({"capacity": "full", "needs": ["loneliness"], "contact": {"phone": null},
                       "organisation_id": advice, "accepts_referrals": true, "min_age": 65});
    app.send(Method::PATCH, &path, &staff, Some(&patch), &[])
        .await
        .problem(428, "precondition_required");
    let changed = app
        .change(Method::PATCH, &path, &staff, 1, Some(&patch))
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.header("etag"), Some("\"2\""));
    assert_eq!(
        (
            &changed.body["capacity"],
            &changed.body["needs"],
            &changed.body["contact"],
            &changed.body["organisation_id"],
            &changed.body["accepts_referrals"],
            &changed.body["min_age"],
            &changed.body["area"],
        ),
        (
            &json!("full"),
            &json!(["loneliness"]),
            &json!({"phone": null, "email": null, "website": "https://lunch.example.org/"}),
            &json!(advice),
            &json!(true),
            &json!(65),
            &json!("Riverside"),
        )
    );
    assert_eq!(anonymous(&app, &path).await.body, changed.body);
    app.change(
        Method::PATCH,
        &path,
        &staff,
        1,
        Some(&json!({"capacity": "available"})),
    )
    .await
    .problem(412, "precondition_failed");
    // Only the search sees what changed: the name is searchable at once.
    let renamed = app
        .change(
            Method::PATCH,
            &path,
            &staff,
            2,
            Some(&json!({"name": "Friday Supper Club", "area": null})),
        )
        .await;
    assert_eq!(renamed.body["area"], json!(null));
    let found = anonymous(&app, &format!("{SERVICES}?q=supper")).await;
    assert_eq!(names(&found), ["Friday Supper Club"]);
    assert_eq!(
        names(&anonymous(&app, &format!("{SERVICES}?q=tuesday")).await),
        Vec::<String>::new()
    );
    assert_eq!(
        names(&anonymous(&app, &format!("{SERVICES}?need=healthy_lifestyle")).await),
        Vec::<String>::new()
    );

    let bad = app
        .change(
            Method::PATCH,
            &path,
            &staff,
            3,
            Some(&json!({"needs": [], "min_age": 121, "contact": {"website": "lunch.example.org"}, "status": "defunct"})),
        )
        .await;
    bad.problem(422, "validation_failed");
    assert_eq!(
        bad.field_errors(),
        [
            ("/needs".to_owned(), "empty".to_owned()),
            ("/contact/website".to_owned(), "url_format".to_owned()),
            ("/status".to_owned(), "unknown_code".to_owned()),
            ("/min_age".to_owned(), "out_of_range".to_owned()),
        ]
    );
    // A broken body is refused as such, whatever the version it names.
    app.change(
        Method::PATCH,
        &path,
        &staff,
        1,
        Some(&json!({"status": "defunct"})),
    )
    .await
    .problem(422, "validation_failed");
    let null = app
        .change(
            Method::PATCH,
            &path,
            &staff,
            3,
            Some(&json!({"contact": null})),
        )
        .await;
    null.problem(422, "validation_failed");
    assert_eq!(
        null.field_errors(),
        [("/contact".to_owned(), "required".to_owned())]
    );
    let unknown = app
        .change(
            Method::PATCH,
            &path,
            &staff,
            3,
            Some(&json!({"organisation_id": Uuid::new_v4()})),
        )
        .await;
    unknown.problem(422, "validation_failed");
    assert_eq!(
        unknown.field_errors(),
        [(
            "/organisation_id".to_owned(),
            "unknown_organisation".to_owned()
        )]
    );
    assert_eq!(
        anonymous(&app, &path).await.body,
        renamed.body,
        "nothing refused was stored"
    );
    app.change(
        Method::PATCH,
        &format!("{SERVICES}/{}", Uuid::new_v4()),
        &staff,
        1,
        Some(&json!({"capacity": "full"})),
    )
    .await
    .problem(404, "not_found");
}

#[tokio::test]
async fn only_staff_add_or_change_entries() {
    let app = TestApp::spawn().await;
    let made = app.post(SERVICES, &app.admin(), &lunch_club()).await;
    let path = format!("{SERVICES}/{}", made.id());
    for role in [Role::Referrer, Role::Partner, Role::Commissioner] {
        let token = app.member(role).await;
        app.post(SERVICES, &token, &lunch_club())
            .await
            .problem(403, "forbidden");
        app.change(
            Method::PATCH,
            &path,
            &token,
            1,
            Some(&json!({"capacity": "full"})),
        )
        .await
        .problem(403, "forbidden");
    }
    app.call(Method::POST, SERVICES, None, Some(&lunch_club()))
        .await
        .problem(401, "unauthorized");
    let mut bad = lunch_club();
    bad["organisation_id"] = json!(Uuid::new_v4());
    bad["min_age"] = json!(-1);
    let reply = app.post(SERVICES, &app.admin(), &bad).await;
    reply.problem(422, "validation_failed");
    assert_eq!(
        reply.field_errors(),
        [("/min_age".to_owned(), "out_of_range".to_owned())]
    );
    bad["min_age"] = json!(null);
    let reply = app.post(SERVICES, &app.admin(), &bad).await;
    assert_eq!(
        reply.field_errors(),
        [(
            "/organisation_id".to_owned(),
            "unknown_organisation".to_owned()
        )]
    );
    let list = anonymous(&app, SERVICES).await;
    assert_eq!(
        names(&list),
        ["Tuesday Lunch Club"],
        "nothing refused was stored"
    );
}

#[tokio::test]
async fn anonymous_reads_are_rate_limited_per_address_and_tokens_by_caller() {
    let app = TestApp::spawn_with(|config| {
        config.public_rate_per_minute = NonZeroU32::new(2).unwrap();
    })
    .await;
    let made = app.post(SERVICES, &app.coordinator(), &lunch_club()).await;
    let one = format!("{SERVICES}/{}", made.id());
    for _ in 0..2 {
        assert_eq!(anonymous(&app, SERVICES).await.status, 200);
    }
    let limited = anonymous(&app, SERVICES).await;
    limited.problem(429, "rate_limited");
    assert!(limited.header("retry-after").is_some());
    // Each operation has its own allowance.
    assert_eq!(anonymous(&app, &one).await.status, 200);
    let partner = app.organisation("Partner", "partner").await;
    for n in 0..5 {
        let reply = app
            .get(SERVICES, &app.token(Role::Partner, Some(partner)))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        // The partner's own allowance, not the address's.
        assert_eq!(
            reply.header("ratelimit-policy"),
            Some("\"default\";q=1200;w=60")
        );
        // One request refills every 50 ms, so a slow run may have some back.
        let left: u32 = reply
            .header("ratelimit")
            .and_then(|r| r.strip_prefix("\"default\";r="))
            .and_then(|r| r.split(';').next())
            .and_then(|r| r.parse().ok())
            .unwrap();
        assert!((1199 - n..=1199).contains(&left), "{n}: {left}");
    }
}

/// Directory search by area (an outward code, a whole postcode, or an area's name), by age
/// and by opening times; each filter narrows the others.
#[tokio::test]
async fn services_are_found_by_area_age_and_opening_times() {
    let app = TestApp::spawn_with(|c| {
        c.public_rate_per_minute = NonZeroU32::new(1_000).unwrap();
    })
    .await;
    let staff = app.coordinator();
    let add = |body: Value| {
        let app = &app;
        let staff = &staff;
        async move {
            let made = app.post(SERVICES, staff, &body).await;
            assert_eq!(made.status, 201, "{}", made.text);
            made
        }
    };
    let lunch = add(lunch_club()).await;
    assert_eq!(lunch.body["max_age"], Value::Null);
    assert_eq!(lunch.body["opening_hours"], json!([]));
    let youth = add(json!({
        "name": "Youth Club", "description": "Games and homework help.", "needs": ["family"],
        "area": "Bury St Edmunds", "postcode": "IP33 1AA", "accepts_referrals": false,
        "min_age": 11, "max_age": 18,
        "opening_hours": [
            {"day": "friday", "opens": "18:00", "closes": "21:00"},
            {"day": "tuesday", "opens": "16:00", "closes": "19:00"}
        ]
    }))
    .await;
    assert_eq!(
        youth.body["opening_hours"],
        json!([{"day": "tuesday", "opens": "16:00", "closes": "19:00"},
               {"day": "friday", "opens": "18:00", "closes": "21:00"}]),
        "in day and time order"
    );
    add(json!({
        "name": "Walking Group", "description": "Gentle walks.", "needs": ["healthy_lifestyle"],
        "area": "bury st edmunds", "postcode": "IP32 7AB", "accepts_referrals": false,
        "min_age": 50,
        "opening_hours": [{"day": "tuesday", "opens": "10:00", "closes": "12:00"}]
    }))
    .await;

    let search = |query: &str| {
        let app = &app;
        let path = format!("{SERVICES}?{query}");
        async move {
            let reply = anonymous(app, &path).await;
            assert_eq!(reply.status, 200, "{path}: {}", reply.text);
            names(&reply)
        }
    };
    assert_eq!(search("area=IP33").await, ["Youth Club"]);
    assert_eq!(
        search("area=ip33%202zz").await,
        ["Youth Club"],
        "a postcode's outward code"
    );
    assert_eq!(search("area=LS1").await, ["Tuesday Lunch Club"]);
    assert_eq!(
        search("area=IP3").await,
        Vec::<String>::new(),
        "not a prefix"
    );
    assert_eq!(
        search("area=BURY%20ST%20EDMUNDS").await,
        ["Youth Club", "Walking Group"],
        "a named area, ignoring case"
    );
    assert_eq!(search("age=15").await, ["Tuesday Lunch Club", "Youth Club"]);
    assert_eq!(search("age=18").await, ["Tuesday Lunch Club", "Youth Club"]);
    assert_eq!(search("age=19").await, ["Tuesday Lunch Club"]);
    assert_eq!(
        search("age=70").await,
        ["Tuesday Lunch Club", "Walking Group"]
    );
    assert_eq!(
        search("open_on=tuesday").await,
        ["Youth Club", "Walking Group"]
    );
    assert_eq!(
        search("open_on=tuesday&open_at=11:00").await,
        ["Walking Group"]
    );
    assert_eq!(search("open_at=18:30").await, ["Youth Club"], "on any day");
    assert_eq!(
        search("open_on=tuesday&open_at=19:00").await,
        Vec::<String>::new(),
        "closed at closing time"
    );
    assert_eq!(search("open_on=sunday").await, Vec::<String>::new());
    assert_eq!(
        search("area=Bury%20St%20Edmunds&age=60&open_on=tuesday").await,
        ["Walking Group"]
    );
    for (query, parameter, code) in [
        ("age=121", "age", "out_of_range"),
        ("age=old", "age", "invalid_integer"),
        ("open_on=someday", "open_on", "unknown_code"),
        ("open_at=25:00", "open_at", "time_format"),
        ("area=%20", "area", "blank"),
    ] {
        let reply = anonymous(&app, &format!("{SERVICES}?{query}")).await;
        reply.problem(400, "invalid_parameter");
        assert_eq!(reply.body["errors"][0]["parameter"], parameter, "{query}");
        assert_eq!(
            reply.body["errors"][0]["code"], code,
            "{query}: {}",
            reply.text
        );
    }

    // The ages and the timetable are checked, and corrected by merge patch.
    let refused = app
        .post(
            SERVICES,
            &staff,
            &json!({"name": "Odd", "description": "x", "needs": ["family"],
                    "accepts_referrals": false, "min_age": 30, "max_age": 20,
                    "opening_hours": [{"day": "monday", "opens": "09:00", "closes": "12:00"}]}),
        )
        .await;
    assert_eq!(
        refused.field_errors(),
        [("/max_age".to_owned(), "age_range".to_owned())]
    );
    for (hours, pointer, code) in [
        (
            json!([{"day": "monday", "opens": "12:00", "closes": "09:00"}]),
            "/opening_hours/0",
            "closes_before_opens",
        ),
        (
            json!([{"day": "monday", "opens": "09:00", "closes": "12:00"},
                   {"day": "monday", "opens": "11:00", "closes": "13:00"}]),
            "/opening_hours/1",
            "overlapping",
        ),
        (
            json!([{"day": "monday", "opens": "9:00", "closes": "12:00"}]),
            "/opening_hours/0/opens",
            "time_format",
        ),
    ] {
        let reply = app
            .post(
                SERVICES,
                &staff,
                &json!({"name": "Odd", "description": "x", "needs": ["family"],
                        "accepts_referrals": false, "opening_hours": hours}),
            )
            .await;
        assert_eq!(
            reply.field_errors(),
            [(pointer.to_owned(), code.to_owned())],
            "{}",
            reply.text
        );
    }
    let path = format!("{SERVICES}/{}", youth.id());
    app.change(
        Method::PATCH,
        &path,
        &staff,
        1,
        Some(&json!({"min_age": 19})),
    )
    .await
    .field_errors()
    .contains(&("/max_age".to_owned(), "age_range".to_owned()))
    .then_some(())
    .expect("a minimum above the maximum is refused");
    let moved = app
        .change(
            Method::PATCH,
            &path,
            &staff,
            1,
            Some(&json!({"max_age": null,
                         "opening_hours": [{"day": "sunday", "opens": "14:00", "closes": "16:00"}]})),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    assert_eq!(moved.body["max_age"], Value::Null);
    assert_eq!(search("open_on=sunday").await, ["Youth Club"]);
    assert_eq!(search("open_on=friday").await, Vec::<String>::new());
    let cleared = app
        .change(
            Method::PATCH,
            &path,
            &staff,
            2,
            Some(&json!({"opening_hours": null})),
        )
        .await;
    assert_eq!(cleared.body["opening_hours"], json!([]));
    assert_eq!(search("open_on=sunday").await, Vec::<String>::new());
}
