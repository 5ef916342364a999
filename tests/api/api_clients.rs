//! Registered systems and the token endpoint (OAuth 2 client credentials): secrets both ways,
//! signed assertions (`private_key_jwt`), revocation, and the rules of registration.

use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use linkwell_domain::Role;
use p256::pkcs8::EncodePrivateKey;
use rand::RngCore;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Reply, TestApp, referral_body};

/// An app whose token endpoint is not throttled by the many requests of one test.
async fn app() -> TestApp {
    TestApp::spawn_with(|c| {
        c.public_rate_per_minute = std::num::NonZeroU32::new(1000).unwrap();
    })
    .await
}

/// Posts a form to the token endpoint, with an optional `Authorization` header.
async fn token_request(app: &TestApp, form: &[(&str, &str)], authorization: Option<&str>) -> Reply {
    let mut request = app.client.post(app.url("/v1/auth/token")).form(form);
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    Reply::from_response(request.send().await.expect("request")).await
}

/// Asserts an RFC 6749 §5.2 error with this status and `error`.
#[track_caller]
fn oauth_error(reply: &Reply, status: u16, error: &str) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.text);
    assert_eq!(
        reply.header("content-type"),
        Some("application/json"),
        "{}",
        reply.text
    );
    assert_eq!(reply.body["error"], json!(error), "{}", reply.text);
    assert!(
        reply.body["error_description"].is_string(),
        "{}",
        reply.text
    );
    assert_eq!(reply.body["status"], json!(status));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
}

async fn register(app: &TestApp, body: &Value) -> Reply {
    app.post("/v1/api-clients", &app.admin(), body).await
}

/// A P-256 key made for the test: its signing key and its public JWK with `kid`.
fn es256_key(kid: &str) -> (EncodingKey, Value) {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let secret = p256::SecretKey::from_slice(&raw).expect("a P-256 scalar");
    let der = secret.to_pkcs8_der().expect("pkcs8");
    let mut jwk: Value = serde_json::from_str(&secret.public_key().to_jwk_string()).unwrap();
    jwk["kid"] = json!(kid);
    jwk["use"] = json!("sig");
    jwk["alg"] = json!("ES256");
    (EncodingKey::from_ec_der(der.as_bytes()), jwk)
}

fn assertion(key: &EncodingKey, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[tokio::test]
async fn a_system_with_a_secret_gets_tokens_either_way_and_acts_with_its_role() {
    let app = app().await;
    let practice = app.organisation("Riverside Surgery", "gp_practice").await;
    let made = register(
        &app,
        &json!({"name": "Riverside GP system", "role": "referrer", "org_id": practice}),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let client_id = made.body["client_id"].as_str().unwrap().to_owned();
    let secret = made.body["client_secret"].as_str().unwrap().to_owned();
    assert!(client_id.starts_with("lw_"));
    assert_eq!(secret.len(), 43);
    assert_eq!(made.body["auth_method"], json!("client_secret"));
    assert_eq!(made.body["role"], json!("referrer"));
    assert_eq!(made.body["revoked_at"], Value::Null);
    let id = made.id();
    assert_eq!(
        made.header("location"),
        Some(format!("/v1/api-clients/{id}").as_str())
    );

    // The secret is shown once: never read back, never stored as sent.
    let read = app
        .get(&format!("/v1/api-clients/{id}"), &app.admin())
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert!(read.body.get("client_secret").is_none(), "{}", read.text);
    let listed = app.get("/v1/api-clients", &app.admin()).await;
    assert_eq!(listed.body["items"][0]["client_id"], json!(client_id));
    assert!(!listed.text.contains(&secret));

    // client_secret_post
    let posted = token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &secret),
        ],
        None,
    )
    .await;
    assert_eq!(posted.status, StatusCode::OK, "{}", posted.text);
    assert_eq!(posted.body["token_type"], json!("Bearer"));
    assert_eq!(posted.body["expires_in"], json!(300));
    assert_eq!(posted.header("cache-control"), Some("no-store"));
    let token = posted.body["access_token"].as_str().unwrap().to_owned();

    // client_secret_basic, with the id and secret form-encoded first (RFC 6749 §2.3.1).
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
    let via_basic = token_request(
        &app,
        &[("grant_type", "client_credentials")],
        Some(&format!("Basic {basic}")),
    )
    .await;
    assert_eq!(via_basic.status, StatusCode::OK, "{}", via_basic.text);

    // The token acts as the system's role for its organisation.
    let referred = app.refer(&token, &referral_body("SYS-1")).await;
    assert_eq!(referred.status, StatusCode::CREATED, "{}", referred.text);
    assert_eq!(referred.body["referrer_org_id"], json!(practice));
    app.get("/v1/users", &token).await.problem(403, "forbidden");

    // Wrong secrets, wrong grants, malformed requests.
    let wrong = token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", "nope"),
        ],
        None,
    )
    .await;
    oauth_error(&wrong, 401, "invalid_client");
    let wrong_basic = base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:nope"));
    let refused = token_request(
        &app,
        &[("grant_type", "client_credentials")],
        Some(&format!("Basic {wrong_basic}")),
    )
    .await;
    oauth_error(&refused, 401, "invalid_client");
    assert_eq!(
        refused.header("www-authenticate"),
        Some("Basic realm=\"linkwell\"")
    );
    let unknown = token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "lw_nobody"),
            ("client_secret", &secret),
        ],
        None,
    )
    .await;
    oauth_error(&unknown, 401, "invalid_client");
    let grant = token_request(
        &app,
        &[
            ("grant_type", "password"),
            ("client_id", &client_id),
            ("client_secret", &secret),
        ],
        None,
    )
    .await;
    oauth_error(&grant, 400, "unsupported_grant_type");
    let twice = token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_id", &client_id),
            ("client_secret", &secret),
        ],
        None,
    )
    .await;
    oauth_error(&twice, 400, "invalid_request");
    let both = token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &secret),
        ],
        Some(&format!("Basic {basic}")),
    )
    .await;
    oauth_error(&both, 400, "invalid_request");
    // Parameters sent without a value count as omitted (RFC 6749 §3.1): not a second method,
    // not a client id that differs.
    let empty = token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", ""),
            ("client_secret", ""),
            ("scope", ""),
        ],
        Some(&format!("Basic {basic}")),
    )
    .await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.text);
    let no_grant = token_request(
        &app,
        &[
            ("grant_type", ""),
            ("client_id", &client_id),
            ("client_secret", &secret),
        ],
        None,
    )
    .await;
    oauth_error(&no_grant, 400, "invalid_request");
    assert_eq!(
        no_grant.body["error_description"],
        json!("grant_type is missing")
    );
    let as_json = app
        .client
        .post(app.url("/v1/auth/token"))
        .json(&json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}))
        .send()
        .await
        .unwrap();
    oauth_error(&Reply::from_response(as_json).await, 400, "invalid_request");
}

#[tokio::test]
async fn registration_is_for_admins_and_follows_the_role_rules() {
    let app = app().await;
    let practice = app.organisation("Hill Surgery", "gp_practice").await;
    let partner = app.organisation("Citizens Advice", "partner").await;
    app.post(
        "/v1/api-clients",
        &app.coordinator(),
        &json!({"name": "x", "role": "coordinator"}),
    )
    .await
    .problem(403, "forbidden");
    app.get("/v1/api-clients", &app.coordinator())
        .await
        .problem(403, "forbidden");
    let cases = [
        (
            json!({"name": "x", "role": "admin"}),
            "/role",
            "role_not_allowed",
        ),
        (
            json!({"name": "x", "role": "partner"}),
            "/role",
            "org_required",
        ),
        (
            json!({"name": "x", "role": "commissioner", "org_id": practice}),
            "/role",
            "org_not_applicable",
        ),
        (
            json!({"name": "x", "role": "referrer", "org_id": partner}),
            "/org_id",
            "organisation_kind",
        ),
        (
            json!({"name": "x", "role": "referrer", "org_id": Uuid::now_v7()}),
            "/org_id",
            "unknown_organisation",
        ),
        (
            json!({"name": "x", "role": "partner", "org_id": partner,
                   "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "c"}]}}),
            "/jwks/keys/0/d",
            "unknown_field",
        ),
        (
            json!({"name": "x", "role": "partner", "org_id": partner, "jwks": {"keys": []}}),
            "/jwks",
            "invalid_jwks",
        ),
    ];
    for (body, pointer, code) in cases {
        let reply = register(&app, &body).await;
        reply.problem(422, "validation_failed");
        assert_eq!(
            reply.field_errors(),
            vec![(pointer.to_owned(), code.to_owned())],
            "{body}"
        );
    }
    let keyed = app
        .send(
            Method::POST,
            "/v1/api-clients",
            &app.admin(),
            Some(&json!({"name": "x", "role": "coordinator"})),
            &[("Idempotency-Key", "k-1")],
        )
        .await;
    keyed.problem(400, "invalid_parameter");
    assert_eq!(
        keyed.field_errors(),
        vec![("Idempotency-Key".to_owned(), "not_replayable".to_owned())]
    );
    let listed = app.get("/v1/api-clients", &app.admin()).await;
    assert_eq!(listed.body["items"], json!([]), "nothing was registered");
    // Each key is built at registration: one that could never verify is refused there.
    let (_, good) = es256_key("k1");
    let with = |member: &str, value: Value| {
        let mut jwk = good.clone();
        jwk[member] = value;
        jwk
    };
    let y = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(good["y"].as_str().unwrap())
        .unwrap();
    let mut off_curve = y.clone();
    off_curve[31] ^= 1;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let rsa = |bits: usize| {
        let mut n = vec![0xffu8; bits / 8];
        n[0] = 0xc1;
        json!({"kty": "RSA", "n": b64(&n), "e": "AQAB", "alg": "RS256", "use": "sig"})
    };
    let bad_keys = [
        (with("use", json!("enc")), "/jwks/keys/0/use"),
        (with("alg", json!("ES384")), "/jwks/keys/0/alg"),
        (with("alg", json!("RS256")), "/jwks/keys/0/alg"),
        (with("y", json!(b64(&off_curve))), "/jwks/keys/0"),
        (rsa(1024), "/jwks/keys/0/n"),
        (rsa(8192), "/jwks/keys/0/n"),
        (with("alg", json!("ES256")), ""),
        (rsa(2048), ""),
    ];
    for (jwk, pointer) in bad_keys {
        let body = json!({"name": "x", "role": "partner", "org_id": partner,
                          "jwks": {"keys": [good.clone(), jwk.clone()]}});
        let reply = register(&app, &body).await;
        if pointer.is_empty() {
            assert_eq!(reply.status, StatusCode::CREATED, "{jwk}: {}", reply.text);
            continue;
        }
        reply.problem(422, "validation_failed");
        let pointer = pointer.replace("/keys/0", "/keys/1");
        assert_eq!(
            reply.field_errors(),
            vec![(pointer, "invalid_jwk".to_owned())],
            "{jwk}"
        );
    }
}

#[tokio::test]
async fn a_revoked_system_gets_no_tokens_and_its_tokens_stop_working_everywhere() {
    let app = app().await;
    let other = app.another_instance().await;
    let made = register(&app, &json!({"name": "Case system", "role": "coordinator"})).await;
    let (id, client_id) = (
        made.id(),
        made.body["client_id"].as_str().unwrap().to_owned(),
    );
    let secret = made.body["client_secret"].as_str().unwrap().to_owned();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let token = token_request(&app, &form, None).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get("/v1/referrals", &token).await.status,
        StatusCode::OK
    );
    assert_eq!(
        other.get("/v1/referrals", &token).await.status,
        StatusCode::OK
    );

    let revoked = app
        .call(
            Method::DELETE,
            &format!("/v1/api-clients/{id}"),
            Some(&app.admin()),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text);
    app.get("/v1/referrals", &token)
        .await
        .problem(401, "unauthorized");
    oauth_error(
        &token_request(&app, &form, None).await,
        401,
        "invalid_client",
    );
    // The other instance follows within its refresh interval (200 ms in tests).
    tokio::time::sleep(Duration::from_millis(600)).await;
    other
        .get("/v1/referrals", &token)
        .await
        .problem(401, "unauthorized");

    // Revoked is gone for a read by id (410, not a 200 that looks alive), still on the record.
    let read = app
        .get(&format!("/v1/api-clients/{id}"), &app.admin())
        .await;
    read.problem(410, "gone");
    let listed = app.get("/v1/api-clients?revoked=true", &app.admin()).await;
    assert_eq!(listed.body["items"][0]["id"], json!(id), "{}", listed.text);
    assert!(listed.body["items"][0]["revoked_at"].is_string());
    assert_eq!(listed.body["items"][0]["version"], json!(2));
    let again = app
        .call(
            Method::DELETE,
            &format!("/v1/api-clients/{id}"),
            Some(&app.admin()),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
    let missing = app
        .call(
            Method::DELETE,
            &format!("/v1/api-clients/{}", Uuid::now_v7()),
            Some(&app.admin()),
            None,
        )
        .await;
    missing.problem(404, "not_found");
    let live = app.get("/v1/api-clients?revoked=false", &app.admin()).await;
    assert_eq!(live.body["items"], json!([]));
}

#[tokio::test]
async fn signed_assertions_are_checked_and_each_is_used_once() {
    let app = app().await;
    let other = app.another_instance().await;
    let partner = app.organisation("Citizens Advice", "partner").await;
    let (key, jwk) = es256_key("ca-2026");
    let made = register(
        &app,
        &json!({"name": "CA case system", "role": "partner", "org_id": partner, "jwks": {"keys": [jwk]}}),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    assert!(made.body.get("client_secret").is_none(), "{}", made.text);
    assert_eq!(made.body["auth_method"], json!("private_key_jwt"));
    let client_id = made.body["client_id"].as_str().unwrap().to_owned();
    let audience = app.url("/v1/auth/token");
    let claims = |jti: &str, aud: &str, exp: i64| json!({"iss": client_id, "sub": client_id, "aud": aud, "jti": jti, "exp": exp, "iat": now()});
    let send = |signed: String| {
        let app = &app;
        async move {
            token_request(
                app,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", &signed),
                ],
                None,
            )
            .await
        }
    };

    let first = assertion(&key, "ca-2026", &claims("j-1", &audience, now() + 120));
    let issued = send(first.clone()).await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.text);
    let token = issued.body["access_token"].as_str().unwrap().to_owned();
    // Partners see their own connections only, of referrals only those they sent, and
    // nothing of people.
    let feed = app.get("/v1/connections", &token).await;
    assert_eq!(feed.status, StatusCode::OK, "{}", feed.text);
    assert_eq!(feed.body["items"], json!([]));
    let sent = app.get("/v1/referrals", &token).await;
    assert_eq!(sent.body["items"], json!([]), "{}", sent.text);
    app.get("/v1/people?nhs_number=9990000018", &token)
        .await
        .problem(403, "forbidden");

    // Used once, on every instance.
    oauth_error(&send(first.clone()).await, 401, "invalid_client");
    let replay_elsewhere = token_request(
        &other,
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &first),
        ],
        None,
    )
    .await;
    oauth_error(&replay_elsewhere, 401, "invalid_client");

    let wrong_audience = assertion(
        &key,
        "ca-2026",
        &claims("j-2", "https://elsewhere/token", now() + 60),
    );
    oauth_error(&send(wrong_audience).await, 401, "invalid_client");
    let too_long = assertion(&key, "ca-2026", &claims("j-3", &audience, now() + 600));
    oauth_error(&send(too_long).await, 401, "invalid_client");
    let expired = assertion(&key, "ca-2026", &claims("j-4", &audience, now() - 120));
    oauth_error(&send(expired).await, 401, "invalid_client");
    let (stranger, _) = es256_key("ca-2026");
    let forged = assertion(&stranger, "ca-2026", &claims("j-5", &audience, now() + 60));
    oauth_error(&send(forged).await, 401, "invalid_client");
    let unknown_kid = assertion(&key, "other", &claims("j-6", &audience, now() + 60));
    oauth_error(&send(unknown_kid).await, 401, "invalid_client");
    let mut other_subject = claims("j-7", &audience, now() + 60);
    other_subject["sub"] = json!("lw_someone_else");
    oauth_error(
        &send(assertion(&key, "ca-2026", &other_subject)).await,
        401,
        "invalid_client",
    );
    let hs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("j-8", &audience, now() + 60),
        &EncodingKey::from_secret(b"a shared secret of at least thirty-two bytes"),
    )
    .unwrap();
    oauth_error(&send(hs256).await, 401, "invalid_client");
    let mut no_jti = claims("", &audience, now() + 60);
    no_jti.as_object_mut().unwrap().remove("jti");
    oauth_error(
        &send(assertion(&key, "ca-2026", &no_jti)).await,
        401,
        "invalid_client",
    );

    // A fresh assertion still works after all that.
    let fresh = assertion(&key, "ca-2026", &claims("j-9", &audience, now() + 60));
    assert_eq!(send(fresh).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_system_token_carries_its_registration_and_nothing_the_caller_chose() {
    let app = app().await;
    let made = register(&app, &json!({"name": "BI tool", "role": "commissioner"})).await;
    let id = made.id();
    let client_id = made.body["client_id"].as_str().unwrap();
    let secret = made.body["client_secret"].as_str().unwrap();
    let reply = token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", "admin"),
        ],
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let token = reply.body["access_token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], json!(id.to_string()));
    assert_eq!(claims["role"], json!(Role::Commissioner.as_str()));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
    app.get("/v1/users", token).await.problem(403, "forbidden");
}

#[tokio::test]
async fn an_assertion_is_not_replayed_within_the_clock_skew_leeway_after_it_expires() {
    let app = app().await;
    let partner = app.organisation("Befriending", "partner").await;
    let (key, jwk) = es256_key("k1");
    let made = register(
        &app,
        &json!({"name": "Befriending system", "role": "partner", "org_id": partner,
                "jwks": {"keys": [jwk]}}),
    )
    .await;
    let client_id = made.body["client_id"].as_str().unwrap().to_owned();
    let claims = json!({"iss": client_id, "sub": client_id, "aud": app.url("/v1/auth/token"),
                        "jti": "short-lived", "exp": now() + 1});
    let signed = assertion(&key, "k1", &claims);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", signed.as_str()),
    ];
    assert_eq!(
        token_request(&app, &form, None).await.status,
        StatusCode::OK
    );
    // Past its exp, but still inside the 30 s leeway a verifier allows for clock skew.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    oauth_error(
        &token_request(&app, &form, None).await,
        401,
        "invalid_client",
    );
}

#[tokio::test]
async fn refusals_before_verification_read_the_same_whatever_the_cause() {
    let app = app().await;
    let secret_client =
        register(&app, &json!({"name": "Case system", "role": "coordinator"})).await;
    let secret_id = secret_client.body["client_id"].as_str().unwrap().to_owned();
    let partner = app.organisation("Advice", "partner").await;
    let (_, jwk) = es256_key("k1");
    let key_client = register(
        &app,
        &json!({"name": "Advice system", "role": "partner", "org_id": partner,
                "jwks": {"keys": [jwk]}}),
    )
    .await;
    let key_id = key_client.body["client_id"].as_str().unwrap().to_owned();
    let description = |reply: Reply| {
        oauth_error(&reply, 401, "invalid_client");
        reply.body["error_description"].clone()
    };
    let wrong_secret = [
        ("grant_type", "client_credentials"),
        ("client_id", secret_id.as_str()),
        ("client_secret", "x"),
    ];
    let unknown = [
        ("grant_type", "client_credentials"),
        ("client_id", "lw_nobody"),
        ("client_secret", "x"),
    ];
    let no_secret = [
        ("grant_type", "client_credentials"),
        ("client_id", key_id.as_str()),
        ("client_secret", "x"),
    ];
    let expected = description(token_request(&app, &wrong_secret, None).await);
    assert_eq!(
        description(token_request(&app, &unknown, None).await),
        expected
    );
    assert_eq!(
        description(token_request(&app, &no_secret, None).await),
        expected
    );
    // An assertion naming a real system with a kid it never registered, or signed by a
    // stranger: the same words, so the system's kids are not learned by probing.
    let (stranger, _) = es256_key("k1");
    let claims = json!({"iss": key_id, "sub": key_id, "aud": app.url("/v1/auth/token"),
                        "jti": "probe", "exp": now() + 60});
    for (signer, kid) in [(&stranger, "k1"), (&stranger, "k2")] {
        let signed = assertion(signer, kid, &claims);
        let reply = token_request(
            &app,
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", signed.as_str()),
            ],
            None,
        )
        .await;
        assert_eq!(description(reply), expected);
    }
    // Many parameters are refused before any is read.
    let many: Vec<(String, String)> = (0..40).map(|i| (format!("p{i}"), "v".into())).collect();
    let reply = Reply::from_response(
        app.client
            .post(app.url("/v1/auth/token"))
            .form(&many)
            .send()
            .await
            .unwrap(),
    )
    .await;
    oauth_error(&reply, 400, "invalid_request");
}

#[tokio::test]
async fn secret_checks_beyond_the_cap_are_turned_away_alike_for_every_client() {
    let app = TestApp::spawn_with(|c| {
        c.public_rate_per_minute = std::num::NonZeroU32::new(1000).unwrap();
        c.clients.secret_checks = std::num::NonZeroUsize::new(1).unwrap();
    })
    .await;
    let made = register(&app, &json!({"name": "Case system", "role": "coordinator"})).await;
    let client_id = made.body["client_id"].as_str().unwrap().to_owned();
    let secret = made.body["client_secret"].as_str().unwrap().to_owned();
    // Known and unknown clients at once: argon2 runs for each, one at a time.
    let ids: Vec<String> = (0..12)
        .map(|i| {
            if i % 2 == 0 {
                client_id.clone()
            } else {
                format!("lw_nobody_{i}")
            }
        })
        .collect();
    let app_ref = &app;
    let replies = futures_util::future::join_all(ids.iter().map(|id| async move {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", "wrong"),
        ];
        token_request(app_ref, &form, None).await
    }))
    .await;
    let mut turned_away = 0;
    for reply in &replies {
        match reply.status.as_u16() {
            401 => oauth_error(reply, 401, "invalid_client"),
            429 => {
                assert_eq!(reply.header("retry-after"), Some("1"), "{}", reply.text);
                assert_eq!(reply.body["code"], json!("rate_limited"), "{}", reply.text);
                turned_away += 1;
            }
            other => panic!("{other}: {}", reply.text),
        }
    }
    assert!(turned_away > 0, "one check at a time turns some away");
    // Once the checks are done, the real secret works.
    let ok = token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &secret),
        ],
        None,
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
}

#[tokio::test]
async fn behind_a_proxy_ports_do_not_split_an_address_nor_addresses_a_slash_64() {
    let app = TestApp::spawn_with(|c| {
        c.public_rate_per_minute = std::num::NonZeroU32::MIN;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let ask = |forwarded: &'static str| {
        let request = app
            .client
            .post(app.url("/v1/auth/token"))
            .header("X-Forwarded-For", forwarded)
            .form(&[("grant_type", "client_credentials")]);
        async move { Reply::from_response(request.send().await.unwrap()).await }
    };
    // One allowance a minute: the first from each client is answered (each has its own), the
    // second refused.
    for (first, second) in [
        ("1.2.3.4:5678", "1.2.3.4:9999"),
        ("5.6.7.8:1", "5.6.7.8"),
        ("[2001:db8:1:2::1]:80", "2001:db8:1:2:ffff::9"),
    ] {
        let answered = ask(first).await;
        assert_ne!(answered.status, StatusCode::TOO_MANY_REQUESTS, "{first}");
        let refused = ask(second).await;
        assert_eq!(
            refused.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{second} shares {first}'s allowance"
        );
    }
}

#[tokio::test]
async fn every_token_request_leaves_one_audit_row_without_its_secret() {
    let app = app().await;
    let practice = app.organisation("Riverside Surgery", "gp_practice").await;
    let made = register(
        &app,
        &json!({"name": "Riverside GP system", "role": "referrer", "org_id": practice}),
    )
    .await;
    let client_id = made.body["client_id"].as_str().unwrap().to_owned();
    let secret = made.body["client_secret"].as_str().unwrap().to_owned();
    let ask = |id: &str, secret: &str, grant: &str| {
        let form = [
            ("grant_type", grant.to_owned()),
            ("client_id", id.to_owned()),
            ("client_secret", secret.to_owned()),
        ];
        let request = app.client.post(app.url("/v1/auth/token")).form(&form);
        async move { Reply::from_response(request.send().await.unwrap()).await }
    };
    let issued = ask(&client_id, &secret, "client_credentials").await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.text);
    let wrong = ask(&client_id, "wrong-secret-value", "client_credentials").await;
    oauth_error(&wrong, 401, "invalid_client");
    let unknown = ask("lw_nobody", "another-secret-value", "client_credentials").await;
    oauth_error(&unknown, 401, "invalid_client");
    let bad_grant = ask(&client_id, &secret, "password").await;
    oauth_error(&bad_grant, 400, "unsupported_grant_type");

    let events = linkwell_persistence::audit::recent(&mut app.db(), 1000).unwrap();
    let row = |reply: &Reply| {
        let id = reply.header("x-request-id").unwrap();
        let rows: Vec<_> = events.iter().filter(|e| e.request_id == id).collect();
        assert_eq!(rows.len(), 1, "{rows:?}");
        let e = rows[0];
        assert_eq!(e.action, "token.issue");
        assert_eq!(e.resource_type, "token");
        (
            e.outcome.as_str(),
            e.actor_sub.clone(),
            e.actor_role.as_str(),
            e.actor_org_id,
        )
    };
    assert_eq!(
        row(&issued),
        ("success", client_id.clone(), "referrer", Some(practice))
    );
    assert_eq!(
        row(&wrong),
        ("forbidden", client_id.clone(), "referrer", Some(practice))
    );
    let (outcome, sub, role, org) = row(&unknown);
    assert_eq!((outcome, role, org), ("forbidden", "anonymous", None));
    assert!(sub.starts_with("anonymous@"), "{sub}");
    assert!(
        !sub.contains("lw_nobody"),
        "an unknown id is not written as a name"
    );
    assert_eq!(row(&bad_grant).0, "rejected");
    let trail = format!("{events:?}");
    for secret in [
        secret.as_str(),
        "wrong-secret-value",
        "another-secret-value",
    ] {
        assert!(!trail.contains(secret), "no secret in the trail");
    }
}

#[tokio::test]
async fn an_assertion_id_is_recorded_once_and_forgotten_once_expired() {
    use linkwell_persistence::api_clients::use_assertion_once;
    let app = TestApp::spawn().await;
    let mut conn = app.db();
    let now = chrono::Utc::now();
    let minute = chrono::Duration::seconds(60);
    let once = |conn: &mut _, client: &str, jti: &str, expires, at| {
        use_assertion_once(conn, client, jti, expires, at).unwrap()
    };
    assert!(once(&mut conn, "lw_a", "j1", now + minute, now));
    assert!(
        !once(&mut conn, "lw_a", "j1", now + minute, now),
        "replayed"
    );
    assert!(
        once(&mut conn, "lw_b", "j1", now + minute, now),
        "another system's"
    );
    // Once expired it could not verify anyway, and is forgotten at the next use.
    let later = now + minute + chrono::Duration::seconds(1);
    assert!(once(&mut conn, "lw_a", "j2", later + minute, later));
    assert!(once(&mut conn, "lw_a", "j1", later + minute, later));
    // The writer is given back: another write goes through at once.
    let started = std::time::Instant::now();
    linkwell_persistence::write_transaction(&mut app.db(), |_| {
        Ok::<_, linkwell_persistence::StoreError>(())
    })
    .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
}
