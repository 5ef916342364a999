//! Linkwell's own tokens: ES256, each naming its key by `kid`, the public keys published as a
//! JWKS that verifies them without Linkwell; older keys keep verifying while configured.

use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use linkwell_api::auth::{Claims, TokenKeys};
use linkwell_api::signing_keys::SigningKey;
use linkwell_domain::Role;
use reqwest::Method;
use serde_json::Value;

use crate::support::{AUDIENCE, ISSUER, TestApp};

const JWKS: &str = "/.well-known/jwks.json";

/// The claims of a good coordinator token.
fn claims() -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        iss: ISSUER.into(),
        aud: linkwell_api::auth::Audience::One(AUDIENCE.into()),
        sub: "someone".into(),
        role: "coordinator".into(),
        org: None,
        exp: now + 300,
        nbf: now,
        iat: now,
        jti: uuid::Uuid::new_v4().to_string(),
    }
}

/// A token with any header, signed with any key.
fn encode(header: Header, key: &EncodingKey) -> String {
    jsonwebtoken::encode(&header, &claims(), key).unwrap()
}

fn header(alg: Algorithm, kid: Option<&str>) -> Header {
    Header {
        kid: kid.map(str::to_owned),
        ..Header::new(alg)
    }
}

/// Base64url without padding, as JWTs use it.
fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// 401 problem+json with the invalid-token challenge, and its detail.
async fn refused(app: &TestApp, token: &str, why: &str) -> String {
    let reply = app.get("/v1/users", token).await;
    assert_eq!(reply.status.as_u16(), 401, "{why}: {}", reply.text);
    reply.problem(401, "unauthorized");
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Bearer realm="linkwell", error="invalid_token""#),
        "{why}"
    );
    reply.body["detail"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_jwks_publishes_the_signing_and_old_keys_and_nothing_private() {
    let old = SigningKey::generate();
    let verify = vec![old.public().clone()];
    let app = TestApp::spawn_with(|c| c.verify_keys = verify).await;
    // Anonymous, cacheable, no rate limit in the way of verifiers.
    let reply = app.call(Method::GET, JWKS, None, None).await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
    assert_eq!(
        reply.header("content-type"),
        Some("application/jwk-set+json")
    );
    assert_eq!(reply.header("cache-control"), Some("public, max-age=300"));
    let keys = reply.body["keys"].as_array().unwrap();
    let kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, [app.signing_key.kid(), old.kid()]);
    for key in keys {
        let mut members: Vec<&str> = key
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        members.sort_unstable();
        // No `d` (nor any other private member): exactly the public ones.
        assert_eq!(members, ["alg", "crv", "kid", "kty", "use", "x", "y"]);
        assert_eq!(
            (&key["kty"], &key["crv"], &key["alg"], &key["use"]),
            (
                &Value::from("EC"),
                &Value::from("P-256"),
                &Value::from("ES256"),
                &Value::from("sig")
            )
        );
        // The kid is the RFC 7638 thumbprint, as computed by another implementation.
        let jwk: Jwk = serde_json::from_value(key.clone()).unwrap();
        assert_eq!(
            jwk.thumbprint(ThumbprintHash::SHA256).unwrap(),
            key["kid"].as_str().unwrap()
        );
    }
    assert!(!reply.text.contains("\"d\""), "{}", reply.text);
    // Many verifiers fetch it: it is not rate limited like the public operations.
    for _ in 0..15 {
        let again = app.call(Method::GET, JWKS, None, None).await;
        assert_eq!(again.status.as_u16(), 200);
    }
    // Read-only.
    let post = app.call(Method::POST, JWKS, None, None).await;
    post.problem(405, "method_not_allowed");
}

#[tokio::test]
async fn the_published_key_verifies_an_issued_token_without_linkwell() {
    let app = TestApp::spawn().await;
    let token = app.token(Role::Coordinator, None);
    let head = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(head.alg, Algorithm::ES256);
    let kid = head.kid.unwrap();
    assert_eq!(kid, app.signing_key.kid());
    let jwks = app.call(Method::GET, JWKS, None, None).await.body;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap();
    let jwk: Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let key = DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[AUDIENCE]);
    validation.set_issuer(&[ISSUER]);
    let data = jsonwebtoken::decode::<Claims>(&token, &key, &validation).unwrap();
    assert_eq!(
        (data.claims.sub.as_str(), data.claims.role.as_str()),
        ("coordinator-user", "coordinator")
    );
    // And a token from another key does not verify with it.
    let other = TokenKeys::new(&SigningKey::generate(), &[], ISSUER, AUDIENCE)
        .unwrap()
        .issue(Role::Coordinator, "x", None, 60)
        .unwrap();
    let bad = jsonwebtoken::decode::<Claims>(&other, &key, &validation).map(|_| ());
    assert!(bad.is_err());
}

#[tokio::test]
async fn a_token_from_a_rotated_out_but_configured_key_still_verifies() {
    let old = SigningKey::generate();
    let old_keys = TokenKeys::new(&old, &[], ISSUER, AUDIENCE).unwrap();
    let token = old_keys
        .issue(Role::Admin, "old-script", None, 600)
        .unwrap();

    // Before the key is configured to verify, its tokens are refused…
    let before = TestApp::spawn().await;
    let detail = refused(&before, &token, "unconfigured old key").await;
    assert!(
        detail.contains("signed by a key this server does not know"),
        "{detail}"
    );

    // …and while it is configured they pass, though only the new key signs.
    let verify = vec![old.public().clone()];
    let app = TestApp::spawn_with(|c| c.verify_keys = verify).await;
    assert_eq!(app.get("/v1/users", &token).await.status.as_u16(), 200);
    let issued = app.token(Role::Admin, None);
    assert_eq!(
        jsonwebtoken::decode_header(&issued).unwrap().kid.as_deref(),
        Some(app.signing_key.kid())
    );
    assert_ne!(app.signing_key.kid(), old.kid());
}

#[tokio::test]
async fn unknown_keys_other_algorithms_and_wrong_kids_are_401() {
    let old = SigningKey::generate();
    let verify = vec![old.public().clone()];
    let app = TestApp::spawn_with(|c| c.verify_keys = verify).await;
    let kid = app.signing_key.kid().to_owned();
    let ours = app.signing_key.encoding_key().unwrap();
    // The control: the same construction with the right key and kid passes.
    let good = encode(header(Algorithm::ES256, Some(&kid)), &ours);
    assert_eq!(app.get("/v1/users", &good).await.status.as_u16(), 200);

    // A key the server does not know, naming itself.
    let stranger = SigningKey::generate();
    let token = encode(
        header(Algorithm::ES256, Some(stranger.kid())),
        &stranger.encoding_key().unwrap(),
    );
    let detail = refused(&app, &token, "unknown key").await;
    assert!(
        detail.contains("signed by a key this server does not know"),
        "{detail}"
    );
    // A key the server does not know, claiming to be the server's.
    let token = encode(
        header(Algorithm::ES256, Some(&kid)),
        &stranger.encoding_key().unwrap(),
    );
    let detail = refused(&app, &token, "unknown key, our kid").await;
    assert!(detail.contains("bad signature"), "{detail}");
    // The server's key under another configured key's kid.
    let token = encode(header(Algorithm::ES256, Some(old.kid())), &ours);
    let detail = refused(&app, &token, "wrong kid").await;
    assert!(detail.contains("bad signature"), "{detail}");
    // No kid at all.
    let token = encode(header(Algorithm::ES256, None), &ours);
    let detail = refused(&app, &token, "no kid").await;
    assert!(detail.contains("names no key"), "{detail}");

    // alg none, unsigned, naming the right key.
    let none_header = format!(r#"{{"alg":"none","typ":"JWT","kid":"{kid}"}}"#);
    let payload = serde_json::to_vec(&claims()).unwrap();
    let token = format!("{}.{}.", b64(none_header.as_bytes()), b64(&payload));
    refused(&app, &token, "alg none").await;

    // HS256 keyed with the public key, in each form an attacker could find it.
    let public_pem = app.signing_key.public().to_pem().unwrap();
    let jwks = app.call(Method::GET, JWKS, None, None).await.text;
    for (form, secret) in [
        ("SPKI PEM", public_pem.as_bytes()),
        ("JWKS", jwks.as_bytes()),
    ] {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let token = encode(header(alg, Some(&kid)), &EncodingKey::from_secret(secret));
            let detail = refused(&app, &token, &format!("{alg:?} with the {form}")).await;
            assert!(detail.contains("only ES256"), "{detail}");
        }
    }
}
