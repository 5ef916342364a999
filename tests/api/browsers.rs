//! Browsers and limits: CORS from the allow-list, and the rate limits with their `RateLimit`
//! fields (draft-ietf-httpapi-ratelimit-headers).

use std::num::NonZeroU32;

use linkwell_domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Reply, TestApp, referral_body};

const FRONT_END: &str = "https://app.example.org";
const WIDGET: &str = "http://localhost:8081";
const ELSEWHERE: &str = "https://evil.example.com";

async fn with_origins() -> TestApp {
    TestApp::spawn_with(|config| {
        // As an operator would write them: a default port and capitals are normalised.
        config.cors_origins = vec!["https://App.Example.org:443".to_owned(), WIDGET.to_owned()];
    })
    .await
}

/// Sends a request with `headers` and, when given, a bearer token.
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    Reply::from_response(request.send().await.unwrap()).await
}

async fn preflight(app: &TestApp, origin: &str) -> Reply {
    raw(
        app,
        Method::OPTIONS,
        "/v1/referrals",
        None,
        &[
            ("origin", origin),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization, content-type, idempotency-key",
            ),
        ],
    )
    .await
}

/// The comma-separated members of a header, lower-cased.
fn members(reply: &Reply, name: &str) -> Vec<String> {
    reply
        .headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|m| m.trim().to_ascii_lowercase())
        .collect()
}

/// `r` and `t` of a `RateLimit` field for `policy`.
fn standing(reply: &Reply, policy: &str) -> (u32, u64) {
    let value = reply.header("ratelimit").unwrap_or_else(|| {
        panic!("no RateLimit on {} {}", reply.status, reply.text);
    });
    let rest = value
        .strip_prefix(&format!("\"{policy}\";r="))
        .unwrap_or_else(|| panic!("{value}"));
    let (r, t) = rest.split_once(";t=").unwrap_or_else(|| panic!("{value}"));
    (r.parse().unwrap(), t.parse().unwrap())
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_answered() {
    let app = with_origins().await;
    for origin in [FRONT_END, WIDGET] {
        let reply = preflight(&app, origin).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
        assert_eq!(reply.text, "");
        assert_eq!(reply.header("access-control-allow-origin"), Some(origin));
        assert_eq!(
            members(&reply, "access-control-allow-methods"),
            ["get", "head", "post", "put", "patch", "delete"]
        );
        assert_eq!(
            members(&reply, "access-control-allow-headers"),
            [
                "authorization",
                "content-type",
                "if-match",
                "if-none-match",
                "idempotency-key",
                "x-request-id",
                "action-token"
            ]
        );
        assert_eq!(reply.header("access-control-max-age"), Some("3600"));
        assert_eq!(members(&reply, "vary"), ["origin"]);
        assert_eq!(reply.header("access-control-allow-credentials"), None);
        // A preflight carries no token and spends no allowance.
        assert_eq!(reply.header("ratelimit"), None);
        assert!(reply.header("x-request-id").is_some());
    }
}

#[tokio::test]
async fn a_preflight_from_any_other_origin_is_refused() {
    let app = with_origins().await;
    for origin in [ELSEWHERE, "https://app.example.org.evil.example", "null"] {
        let reply = preflight(&app, origin).await;
        reply.problem(403, "origin_not_allowed");
        assert_eq!(reply.header("access-control-allow-origin"), None);
        assert_eq!(reply.header("access-control-allow-methods"), None);
    }
    // With no list, no origin may call from a browser.
    let closed = TestApp::spawn().await;
    let reply = preflight(&closed, FRONT_END).await;
    reply.problem(403, "origin_not_allowed");
    assert_eq!(reply.header("access-control-allow-origin"), None);
    assert_eq!(reply.header("vary"), None);
    // An OPTIONS that is not a preflight is routed as any request: 405 with Allow.
    let plain = raw(&app, Method::OPTIONS, "/v1/referrals", None, &[]).await;
    plain.problem(405, "method_not_allowed");
    assert_eq!(plain.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn answers_to_an_allowed_origin_carry_the_cors_headers() {
    let app = with_origins().await;
    let org = app.organisation("Riverside Surgery", "gp_practice").await;
    let gp = app.referrer(org);
    let created = app
        .client
        .post(app.url("/v1/referrals"))
        .bearer_auth(&gp)
        .header("origin", FRONT_END)
        .json(&referral_body("EMIS-1"))
        .send()
        .await
        .unwrap();
    let created = Reply::from_response(created).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(
        created.header("access-control-allow-origin"),
        Some(FRONT_END)
    );
    assert!(members(&created, "vary").contains(&"origin".to_owned()));
    let exposed = members(&created, "access-control-expose-headers");
    for header in [
        "etag",
        "location",
        "retry-after",
        "ratelimit",
        "ratelimit-policy",
        "idempotent-replayed",
        "x-request-id",
    ] {
        assert!(
            exposed.contains(&header.to_owned()),
            "{header}: {exposed:?}"
        );
    }
    // Each exposed header the answer carries is one a script can now read.
    for header in [
        "etag",
        "location",
        "ratelimit",
        "ratelimit-policy",
        "x-request-id",
    ] {
        assert!(created.header(header).is_some(), "{header} missing");
    }

    let elsewhere = raw(
        &app,
        Method::GET,
        "/v1/referrals",
        Some(&gp),
        &[("origin", ELSEWHERE)],
    )
    .await;
    assert_eq!(elsewhere.status, StatusCode::OK, "{}", elsewhere.text);
    assert_eq!(elsewhere.header("access-control-allow-origin"), None);
    assert_eq!(elsewhere.header("access-control-expose-headers"), None);
    assert_eq!(members(&elsewhere, "vary"), ["origin"]);
}

#[tokio::test]
async fn errors_carry_the_cors_headers_so_a_script_can_read_the_problem() {
    let app = TestApp::spawn_with(|config| {
        config.cors_origins = vec![FRONT_END.to_owned()];
        config.rate_per_minute = NonZeroU32::new(1).unwrap();
    })
    .await;
    let origin = [("origin", FRONT_END)];
    let cases = [
        (Method::GET, "/v1/referrals", None, 401, "unauthorized"),
        (Method::GET, "/v1/nowhere", None, 404, "not_found"),
    ];
    for (method, path, token, status, code) in cases {
        let reply = raw(&app, method, path, token, &origin).await;
        reply.problem(status, code);
        assert_eq!(reply.header("access-control-allow-origin"), Some(FRONT_END));
        assert!(members(&reply, "access-control-expose-headers").contains(&"x-request-id".into()));
    }
    let staff = app.coordinator();
    let first = raw(&app, Method::GET, "/v1/referrals", Some(&staff), &origin).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let limited = raw(&app, Method::GET, "/v1/referrals", Some(&staff), &origin).await;
    limited.problem(429, "rate_limited");
    assert_eq!(
        limited.header("access-control-allow-origin"),
        Some(FRONT_END)
    );
    assert!(limited.header("retry-after").is_some());
    assert!(members(&limited, "access-control-expose-headers").contains(&"retry-after".into()));
}

#[tokio::test]
async fn each_caller_has_its_own_allowance() {
    let app = TestApp::spawn_with(|config| {
        config.rate_per_minute = NonZeroU32::new(3).unwrap();
    })
    .await;
    // Registered through the API as an admin who is not one of the callers below.
    let (jo_id, jo) = app.user(Role::Coordinator, None).await;
    let (_, sam) = app.user(Role::Coordinator, None).await;
    for n in 0..3 {
        let reply = app.get("/v1/referrals", &jo).await;
        assert_eq!(reply.status, StatusCode::OK, "request {n}: {}", reply.text);
    }
    let limited = app.get("/v1/referrals", &jo).await;
    let problem = limited.problem(429, "rate_limited");
    // One request comes back every 20 s (3 a minute), counted from the first.
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((19..=20).contains(&wait), "{wait}");
    assert_eq!(
        problem["detail"],
        json!(format!(
            "too many requests with your token's identity; try again in {wait} s"
        ))
    );
    assert_eq!(
        limited.header("ratelimit-policy"),
        Some("\"default\";q=3;w=60")
    );
    assert_eq!(standing(&limited, "default"), (0, 60));
    // The allowance covers every operation, refusals included.
    app.get("/v1/users", &jo).await.problem(429, "rate_limited");
    // Nothing was read for the limited requests.
    let history = linkwell_persistence::audit::recent(&mut app.db(), 50).unwrap();
    let lists = history
        .iter()
        .filter(|e| e.action == "referral.list")
        .count();
    assert_eq!(lists, 3);

    // Another caller is served as before.
    let other = app.get("/v1/referrals", &sam).await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.text);
    assert_eq!(standing(&other, "default").0, 2);
    // The same subject in another role is another caller.
    let as_admin = app
        .keys
        .issue(Role::Admin, &jo_id.to_string(), None, 600)
        .unwrap();
    let reply = app.get("/v1/referrals", &as_admin).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

#[tokio::test]
async fn the_ratelimit_fields_count_down_on_every_answer() {
    let app = TestApp::spawn_with(|config| {
        config.rate_per_minute = NonZeroU32::new(5).unwrap();
    })
    .await;
    let staff = app.coordinator();
    let mut seen = Vec::new();
    let missing = "/v1/referrals/00000000-0000-4000-8000-000000000000";
    for path in ["/v1/referrals", missing, "/v1/users"] {
        let reply = app.get(path, &staff).await;
        assert_eq!(
            reply.header("ratelimit-policy"),
            Some("\"default\";q=5;w=60"),
            "{path}"
        );
        seen.push((reply.status.as_u16(), standing(&reply, "default")));
    }
    // 12 s refill one request of five a minute: `t` is when all five are back.
    assert_eq!(seen, [(200, (4, 12)), (404, (3, 24)), (200, (2, 36))]);
    // A forbidden operation spends the allowance too, and says so.
    let refused = app
        .get("/v1/reports/activity?from=2026-01-01&to=2026-01-31", &staff)
        .await;
    refused.problem(403, "forbidden");
    assert_eq!(standing(&refused, "default"), (1, 48));
    // Without a verified caller, the client address's allowance for refused tokens pays.
    let anonymous = app.call(Method::GET, "/v1/referrals", None, None).await;
    anonymous.problem(401, "unauthorized");
    assert_eq!(
        anonymous.header("ratelimit-policy"),
        Some("\"refused\";q=5;w=60")
    );
    assert_eq!(standing(&anonymous, "refused"), (4, 12));
}

#[tokio::test]
async fn the_health_probes_are_never_throttled() {
    let app = TestApp::spawn_with(|config| {
        config.rate_per_minute = NonZeroU32::new(1).unwrap();
        config.public_rate_per_minute = NonZeroU32::new(1).unwrap();
    })
    .await;
    let staff = app.coordinator();
    assert_eq!(
        app.get("/v1/referrals", &staff).await.status,
        StatusCode::OK
    );
    app.get("/v1/referrals", &staff)
        .await
        .problem(429, "rate_limited");
    // The caller's spent allowance never fails a probe: probes spend their own, per address.
    for n in 0..30 {
        for path in ["/health/live", "/health/ready", "/.well-known/jwks.json"] {
            let anonymous = app.call(Method::GET, path, None, None).await;
            assert_eq!(anonymous.status, StatusCode::OK, "{path} {n}");
            assert_eq!(
                anonymous.header("ratelimit-policy"),
                Some("\"probe\";q=600;w=60")
            );
            let with_token = app.get(path, &staff).await;
            assert_eq!(with_token.status, StatusCode::OK, "{path} {n}");
            assert_eq!(
                with_token.header("ratelimit-policy"),
                Some("\"probe\";q=600;w=60")
            );
        }
    }
    // A token sent to a probe must be valid, as everywhere.
    app.get("/health/live", "not.a.token")
        .await
        .problem(401, "unauthorized");
}

#[tokio::test]
async fn probes_have_their_own_per_address_limit() {
    let app = TestApp::spawn_with(|config| {
        config.probe_rate_per_minute = NonZeroU32::new(2).unwrap();
    })
    .await;
    for path in ["/health/live", "/health/ready", "/.well-known/jwks.json"] {
        for _ in 0..2 {
            let reply = app.call(Method::GET, path, None, None).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}");
        }
        let over = app.call(Method::GET, path, None, None).await;
        over.problem(429, "rate_limited");
        assert!(over.header("retry-after").is_some(), "{path}");
    }
    // Each operation has its own allowance, and an authenticated caller's is untouched.
    assert_eq!(
        app.get("/v1/referrals", &app.coordinator()).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn anonymous_callers_keep_their_per_address_limit() {
    let app = TestApp::spawn_with(|config| {
        config.public_rate_per_minute = NonZeroU32::new(2).unwrap();
    })
    .await;
    let services = "/v1/directory/services";
    let mut seen = Vec::new();
    for _ in 0..2 {
        let reply = app.call(Method::GET, services, None, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(
            reply.header("ratelimit-policy"),
            Some("\"public\";q=2;w=60")
        );
        seen.push(standing(&reply, "public"));
    }
    assert_eq!(seen, [(1, 30), (0, 60)]);
    let limited = app.call(Method::GET, services, None, None).await;
    let problem = limited.problem(429, "rate_limited");
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((29..=30).contains(&wait), "{wait}");
    assert_eq!(
        problem["detail"],
        json!(format!(
            "too many requests from your address; try again in {wait} s"
        ))
    );
    assert_eq!(standing(&limited, "public"), (0, 60));
    // A token spends its caller's own allowance instead.
    let staff = app.coordinator();
    let reply = app.get(services, &staff).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.header("ratelimit-policy"),
        Some("\"default\";q=1200;w=60")
    );
    assert_eq!(standing(&reply, "default").0, 1199);
}

#[test]
fn a_wildcard_or_malformed_origin_refuses_to_start() {
    for (origins, complaint) in [
        ("*", "`*` allows every origin"),
        (
            "https://app.example.org, https://app.example.org/",
            "`https://app.example.org/` has a path",
        ),
        ("app.example.org", "`app.example.org` is not an origin"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let output = crate::cli::linkwell()
            .current_dir(dir.path())
            .env("LINKWELL_CORS_ORIGINS", origins)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{origins} started");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("LINKWELL_CORS_ORIGINS: {complaint}")),
            "{origins}: {stderr}"
        );
        assert!(
            !dir.path().join("linkwell.db").exists(),
            "refused before touching the database"
        );
    }
}
