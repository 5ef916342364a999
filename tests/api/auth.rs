//! Tokens: everything RFC 8725 and jsonwebtoken's defaults make easy to get wrong is refused.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use linkwell_api::auth::{Audience, Claims};
use linkwell_domain::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{AUDIENCE, ISSUER, TestApp};

fn claims(role: &str) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        iss: ISSUER.into(),
        aud: Audience::One(AUDIENCE.into()),
        sub: "someone".into(),
        role: role.into(),
        org: None,
        exp: now + 300,
        nbf: now,
        iat: now,
        jti: Uuid::new_v4().to_string(),
    }
}

/// Signs any JSON claims with the app's key, as the app would (ES256, its kid).
fn sign_json(app: &TestApp, claims: &Value) -> String {
    let header = Header {
        kid: Some(app.signing_key.kid().to_owned()),
        ..Header::new(Algorithm::ES256)
    };
    jsonwebtoken::encode(&header, claims, &app.signing_key.encoding_key().unwrap()).unwrap()
}

fn json_claims(role: &str) -> Value {
    serde_json::to_value(claims(role)).unwrap()
}

async fn status_with(app: &TestApp, token: &str) -> u16 {
    app.get("/v1/referrals", token).await.status.as_u16()
}

async fn assert_unauthorized(app: &TestApp, token: &str, why: &str) {
    let reply = app.get("/v1/referrals", token).await;
    assert_eq!(reply.status.as_u16(), 401, "{why}: {}", reply.text);
    reply.problem(401, "unauthorized");
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Bearer realm="linkwell", error="invalid_token""#),
        "{why}"
    );
}

#[tokio::test]
async fn no_token_is_401_with_a_bearer_challenge() {
    let app = TestApp::spawn().await;
    let reply = app.call(Method::GET, "/v1/referrals", None, None).await;
    reply.problem(401, "unauthorized");
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Bearer realm="linkwell""#)
    );
    let reply = app
        .client
        .get(app.url("/v1/referrals"))
        .header("authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 401);
}

#[tokio::test]
async fn a_good_token_passes() {
    let app = TestApp::spawn().await;
    assert_eq!(
        status_with(&app, &app.sign(&claims("coordinator"))).await,
        200
    );
    // Within the 30 s leeway.
    let mut recent = claims("coordinator");
    recent.exp = chrono::Utc::now().timestamp() - 10;
    assert_eq!(status_with(&app, &app.sign(&recent)).await, 200);
    // RFC 7519 allows the audience as an array.
    let mut listed = claims("coordinator");
    listed.aud = Audience::Many(vec!["other-api".into(), AUDIENCE.into()]);
    assert_eq!(status_with(&app, &app.sign(&listed)).await, 200);
}

#[tokio::test]
async fn forged_or_malformed_tokens_are_401() {
    let app = TestApp::spawn().await;
    // alg: none, unsigned.
    let header = base64_url(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = base64_url(&serde_json::to_vec(&json_claims("admin")).unwrap());
    assert_unauthorized(&app, &format!("{header}.{payload}."), "alg none").await;
    // A shared secret, as tokens were once signed, however long.
    let hs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json_claims("admin"),
        &EncodingKey::from_secret(b"some-other-secret-of-32-bytes-or-more!"),
    )
    .unwrap();
    assert_unauthorized(&app, &hs256, "HS256").await;
    // The right claims, signed right, then tampered with.
    let good = sign_json(&app, &json_claims("coordinator"));
    assert_eq!(status_with(&app, &good).await, 200);
    let (head, rest) = good.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let forged = format!("{head}.{payload}.{signature}");
    assert_unauthorized(&app, &forged, "claims swapped under a good signature").await;
    assert_unauthorized(&app, "not.a.jwt", "garbage").await;
    assert_unauthorized(&app, "", "empty").await;
}

/// A change to a token's claims.
type Change = Box<dyn Fn(&mut Value)>;

#[tokio::test]
async fn wrong_or_missing_claims_are_401() {
    let app = TestApp::spawn().await;
    let now = chrono::Utc::now().timestamp();
    let cases: Vec<(&str, Change)> = vec![
        ("wrong aud", Box::new(|c| c["aud"] = json!("someone-else"))),
        ("wrong aud list", Box::new(|c| c["aud"] = json!(["a", "b"]))),
        ("wrong iss", Box::new(|c| c["iss"] = json!("evil"))),
        (
            "no exp",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("exp"))),
        ),
        (
            "no nbf",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("nbf"))),
        ),
        (
            "no sub",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("sub"))),
        ),
        (
            "no iss",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("iss"))),
        ),
        (
            "no aud",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("aud"))),
        ),
        (
            "expired past leeway",
            Box::new(move |c| c["exp"] = json!(now - 120)),
        ),
        (
            "nbf in the future",
            Box::new(move |c| c["nbf"] = json!(now + 120)),
        ),
        (
            "exp as a string",
            Box::new(move |c| c["exp"] = json!((now + 300).to_string())),
        ),
        ("unknown role", Box::new(|c| c["role"] = json!("superuser"))),
        ("blank sub", Box::new(|c| c["sub"] = json!(" "))),
        ("long sub", Box::new(|c| c["sub"] = json!("s".repeat(201)))),
        (
            "control characters in sub",
            Box::new(|c| c["sub"] = json!("a\u{0}b")),
        ),
        (
            "referrer without org",
            Box::new(|c| c["role"] = json!("referrer")),
        ),
        (
            "org not a uuid",
            Box::new(|c| {
                c["role"] = json!("referrer");
                c["org"] = json!("practice-1");
            }),
        ),
    ];
    for (why, change) in cases {
        let mut claims = json_claims("coordinator");
        change(&mut claims);
        assert_unauthorized(&app, &sign_json(&app, &claims), why).await;
    }
}

#[tokio::test]
async fn roles_without_access_are_403() {
    let app = TestApp::spawn().await;
    let commissioner = app.token(Role::Commissioner, None);
    let reply = app.get("/v1/referrals", &commissioner).await;
    reply.problem(403, "forbidden");
    let reply = app
        .refer(&commissioner, &crate::support::referral_body("X"))
        .await;
    reply.problem(403, "forbidden");
    let partner = app.member(Role::Partner).await;
    app.get("/v1/people?nhs_number=9990000018", &partner)
        .await
        .problem(403, "forbidden");
}

#[tokio::test]
async fn a_role_check_comes_before_reading_the_body() {
    let app = TestApp::spawn().await;
    let commissioner = app.token(Role::Commissioner, None);
    let reply = app
        .post("/v1/referrals", &commissioner, &json!({"nonsense": true}))
        .await;
    reply.problem(403, "forbidden");
}

fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}
