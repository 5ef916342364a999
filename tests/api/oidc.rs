//! Signing in with an OpenID Connect provider: a stand-in provider on loopback publishes a
//! discovery document and a key set made here, and its tokens act as the Linkwell users an
//! administrator linked their subjects to, with the users' roles, never the tokens' claims.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use linkwell_api::oidc::OidcSettings;
use linkwell_api::signing_keys::SigningKey;
use linkwell_domain::Role;
use reqwest::Method;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Reply, TestApp};

/// What the provider puts in `aud` for Linkwell.
const CLIENT_ID: &str = "linkwell-test-client";

/// rand 0.9 as the RNG the `rsa` crate (rand_core 0.6) asks for.
struct Rng;

impl rsa::rand_core::RngCore for Rng {
    fn next_u32(&mut self) -> u32 {
        rand::random()
    }
    fn next_u64(&mut self) -> u64 {
        rand::random()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand::RngCore::fill_bytes(&mut rand::rng(), dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rsa::rand_core::CryptoRng for Rng {}

/// Two RSA keys for the whole run (2048-bit generation is slow without optimisation); each
/// test publishes them under its own kids.
fn rsa_keys() -> &'static [rsa::RsaPrivateKey; 2] {
    static KEYS: OnceLock<[rsa::RsaPrivateKey; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let make = || rsa::RsaPrivateKey::new(&mut Rng, 2048).expect("an RSA key");
        [make(), make()]
    })
}

/// A key the provider signs with.
struct ProviderKey {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
    /// The public key as PEM: what an attacker would use as an HMAC secret.
    public_pem: String,
}

fn rsa_key(which: usize, kid: &str) -> ProviderKey {
    let private = &rsa_keys()[which];
    let public = private.to_public_key();
    let der = private.to_pkcs1_der().expect("der");
    ProviderKey {
        kid: kid.into(),
        alg: Algorithm::RS256,
        encoding: EncodingKey::from_rsa_der(der.as_bytes()),
        jwk: json!({
            "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        }),
        public_pem: public.to_public_key_pem(LineEnding::LF).expect("pem"),
    }
}

fn ec_key() -> ProviderKey {
    let key = SigningKey::generate();
    ProviderKey {
        kid: key.kid().to_owned(),
        alg: Algorithm::ES256,
        encoding: key.encoding_key().expect("encoding key"),
        jwk: serde_json::to_value(key.public().jwk()).expect("jwk"),
        public_pem: key.public().to_pem().expect("pem"),
    }
}

/// A stand-in provider on loopback: discovery at the issuer, keys at `{issuer}/jwks`.
struct Provider {
    issuer: String,
    discovery: Arc<Mutex<Value>>,
    jwks: Arc<Mutex<Value>>,
    jwks_fetches: Arc<AtomicUsize>,
}

impl Provider {
    fn start(keys: &[&ProviderKey]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let issuer = format!(
            "http://{}/realms/test",
            listener.local_addr().expect("addr")
        );
        let discovery = Arc::new(Mutex::new(json!({
            "issuer": issuer, "jwks_uri": format!("{issuer}/jwks"),
            "id_token_signing_alg_values_supported": ["RS256", "ES256"]})));
        let jwks = Arc::new(Mutex::new(json!({"keys": []})));
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let (document, served, fetches) = (discovery.clone(), jwks.clone(), jwks_fetches.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut line = String::new();
                let mut reader = BufReader::new(stream.try_clone().expect("stream"));
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                // Read the rest of the head.
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    header.clear();
                }
                let path = line.split(' ').nth(1).unwrap_or_default();
                let (status, body) = match path {
                    "/realms/test/.well-known/openid-configuration" => {
                        ("200 OK", document.lock().expect("discovery").clone())
                    }
                    "/realms/test/jwks" => {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        ("200 OK", served.lock().expect("jwks").clone())
                    }
                    _ => ("404 Not Found", json!({})),
                };
                let body = body.to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        let provider = Self {
            issuer,
            discovery,
            jwks,
            jwks_fetches,
        };
        provider.publish(keys);
        provider
    }

    fn publish(&self, keys: &[&ProviderKey]) {
        let keys: Vec<Value> = keys.iter().map(|k| k.jwk.clone()).collect();
        *self.jwks.lock().expect("jwks") = json!({ "keys": keys });
    }

    fn fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Claims for `sub` valid for an hour from now.
    fn claims(&self, sub: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({"iss": self.issuer, "aud": CLIENT_ID, "sub": sub,
               "iat": now, "nbf": now, "exp": now + 3600})
    }
}

fn sign(key: &ProviderKey, claims: &Value) -> String {
    let header = Header {
        kid: Some(key.kid.clone()),
        ..Header::new(key.alg)
    };
    jsonwebtoken::encode(&header, claims, &key.encoding).expect("sign")
}

/// The app, configured for `provider`.
async fn app_for(issuer: &str) -> TestApp {
    let settings = OidcSettings {
        issuer: issuer.to_owned(),
        audience: CLIENT_ID.to_owned(),
    };
    TestApp::spawn_with(move |config| config.oidc = Some(settings)).await
}

/// Links `subject` at `issuer` to user `user` as an admin.
async fn link(app: &TestApp, user: Uuid, issuer: &str, subject: &str) -> Reply {
    let path = format!("/v1/users/{user}/identities");
    app.post(
        &path,
        &app.admin(),
        &json!({"issuer": issuer, "subject": subject}),
    )
    .await
}

/// A provider with one RSA and one EC key, the app, and a coordinator linked to `subject`.
async fn world() -> (Provider, TestApp, ProviderKey, ProviderKey, Uuid) {
    let (rsa, ec) = (rsa_key(0, "rsa-1"), ec_key());
    let provider = Provider::start(&[&rsa, &ec]);
    let app = app_for(&provider.issuer).await;
    let (user, _) = app.user(Role::Coordinator, None).await;
    let linked = link(&app, user, &provider.issuer, "subject-1").await;
    assert_eq!(linked.status, 201, "{}", linked.text);
    (provider, app, rsa, ec, user)
}

#[tokio::test]
async fn an_rs256_token_acts_as_the_linked_user_and_the_trail_names_the_user() {
    let (provider, app, rsa, _, user) = world().await;
    let token = sign(&rsa, &provider.claims("subject-1"));
    let reply = app.get(&format!("/v1/users/{user}"), &token).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["role"], "coordinator");
    let people = app.get("/v1/people?nhs_number=9990000018", &token).await;
    assert_eq!(people.status, 200, "{}", people.text);
    let trail = app
        .get(
            &format!("/v1/audit-events?actor={user}&action=person.list"),
            &app.admin(),
        )
        .await;
    assert_eq!(trail.status, 200, "{}", trail.text);
    let rows = trail.body["items"].as_array().expect("items");
    assert_eq!(rows.len(), 1, "{}", trail.text);
    assert_eq!(rows[0]["actor"], json!(user.to_string()));
    assert_eq!(rows[0]["actor_role"], "coordinator");
}

#[tokio::test]
async fn an_es256_token_is_accepted() {
    let (provider, app, _, ec, user) = world().await;
    let token = sign(&ec, &provider.claims("subject-1"));
    let reply = app.get(&format!("/v1/users/{user}"), &token).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[tokio::test]
async fn forged_and_mismatched_tokens_are_refused() {
    let (provider, app, rsa, _, user) = world().await;
    let path = format!("/v1/users/{user}");
    let now = chrono::Utc::now().timestamp();
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());

    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": rsa.kid})),
        b64(&provider.claims("subject-1"))
    );
    let hs256 = {
        let header = Header {
            kid: Some(rsa.kid.clone()),
            ..Header::new(Algorithm::HS256)
        };
        let secret = EncodingKey::from_secret(rsa.public_pem.as_bytes());
        jsonwebtoken::encode(&header, &provider.claims("subject-1"), &secret).expect("sign")
    };
    let rs384 = {
        let header = Header {
            kid: Some(rsa.kid.clone()),
            ..Header::new(Algorithm::RS384)
        };
        jsonwebtoken::encode(&header, &provider.claims("subject-1"), &rsa.encoding).expect("sign")
    };
    let no_kid = {
        let header = Header::new(Algorithm::RS256);
        jsonwebtoken::encode(&header, &provider.claims("subject-1"), &rsa.encoding).expect("sign")
    };
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = provider.claims("subject-1");
        change(&mut claims);
        sign(&rsa, &claims)
    };
    let cases = [
        ("alg none", none),
        ("HS256 keyed with the public key", hs256),
        ("RS384", rs384),
        ("no kid", no_kid),
        (
            "wrong iss",
            with(&|c| c["iss"] = json!("https://idp.example.org")),
        ),
        (
            "iss with a trailing slash",
            with(&|c| c["iss"] = json!(format!("{}/", provider.issuer))),
        ),
        ("wrong aud", with(&|c| c["aud"] = json!("another-client"))),
        (
            "aud array without ours",
            with(&|c| c["aud"] = json!(["a", "b"])),
        ),
        ("expired", with(&|c| c["exp"] = json!(now - 3600))),
        (
            "no exp",
            with(&|c| drop(c.as_object_mut().map(|o| o.remove("exp")))),
        ),
        ("nbf in the future", with(&|c| c["nbf"] = json!(now + 600))),
        ("iat in the future", with(&|c| c["iat"] = json!(now + 600))),
        ("unlinked subject", with(&|c| c["sub"] = json!("subject-2"))),
        (
            "signed by another key under our kid",
            sign(
                &ProviderKey {
                    kid: rsa.kid.clone(),
                    ..rsa_key(1, "other")
                },
                &provider.claims("subject-1"),
            ),
        ),
    ];
    for (case, token) in cases {
        let reply = app.get(&path, &token).await;
        assert_eq!(reply.status, 401, "{case}: {}", reply.text);
        reply.problem(401, "unauthorized");
        assert!(
            reply
                .header("www-authenticate")
                .is_some_and(|h| h.contains(r#"error="invalid_token""#)),
            "{case}"
        );
    }
    // The audience may be an array that holds ours.
    let listed = with(&|c| c["aud"] = json!(["another-client", CLIENT_ID]));
    assert_eq!(app.get(&path, &listed).await.status, 200);
    // A provider key never verifies a token on Linkwell's own path.
    let own_claims = json!({"iss": linkwell_api::config::DEFAULT_ISSUER,
        "aud": linkwell_api::config::DEFAULT_AUDIENCE, "sub": user.to_string(),
        "role": "admin", "exp": now + 600, "nbf": now, "iat": now, "jti": "x"});
    let reply = app.get(&path, &sign(&rsa, &own_claims)).await;
    reply.problem(401, "unauthorized");
}

#[tokio::test]
async fn the_role_and_organisation_come_from_the_user_record_not_the_token() {
    let (provider, app, rsa, _, user) = world().await;
    let mut claims = provider.claims("subject-1");
    claims["role"] = json!("admin");
    claims["roles"] = json!(["admin"]);
    claims["groups"] = json!(["admin"]);
    claims["org"] = json!(Uuid::new_v4().to_string());
    let token = sign(&rsa, &claims);
    app.get("/v1/api-clients", &token)
        .await
        .problem(403, "forbidden");
    let body = json!({"name": "Acme", "kind": "partner"});
    app.post("/v1/organisations", &token, &body)
        .await
        .problem(403, "forbidden");
    assert_eq!(
        app.get(&format!("/v1/users/{user}"), &token).await.status,
        200
    );
}

#[tokio::test]
async fn deactivating_the_user_or_unlinking_the_identity_stops_its_tokens() {
    let (provider, app, rsa, _, user) = world().await;
    let token = sign(&rsa, &provider.claims("subject-1"));
    let path = format!("/v1/users/{user}");
    assert_eq!(app.get(&path, &token).await.status, 200);

    let admin = app.admin();
    let off = app
        .call(
            Method::POST,
            &format!("{path}/deactivate"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.text);
    app.get(&path, &token).await.problem(401, "unauthorized");
    let on = app
        .call(
            Method::POST,
            &format!("{path}/reactivate"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(on.status, 200, "{}", on.text);
    assert_eq!(app.get(&path, &token).await.status, 200);

    let listed = app.get(&format!("{path}/identities"), &admin).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let items = listed.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{}", listed.text);
    assert_eq!(items[0]["subject"], "subject-1");
    assert_eq!(items[0]["issuer"], json!(provider.issuer));
    let identity = items[0]["id"].as_str().expect("id").to_owned();
    let unlinked = app
        .call(
            Method::DELETE,
            &format!("{path}/identities/{identity}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(unlinked.status, 204, "{}", unlinked.text);
    app.get(&path, &token).await.problem(401, "unauthorized");
    let again = app
        .call(
            Method::DELETE,
            &format!("{path}/identities/{identity}"),
            Some(&admin),
            None,
        )
        .await;
    again.problem(404, "not_found");
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_and_unknown_kids_refetch_at_most_once_a_minute() {
    let (provider, app, rsa, ec, user) = world().await;
    let path = format!("/v1/users/{user}");
    assert_eq!(
        app.get(&path, &sign(&rsa, &provider.claims("subject-1")))
            .await
            .status,
        200
    );
    assert_eq!(provider.fetches(), 1);

    let rotated = rsa_key(1, "rsa-2");
    provider.publish(&[&rsa, &ec, &rotated]);
    let token = sign(&rotated, &provider.claims("subject-1"));
    // Requests arriving together wait for one fetch.
    let replies = futures_util::future::join_all((0..4).map(|_| app.get(&path, &token))).await;
    for reply in replies {
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    assert_eq!(provider.fetches(), 2);

    let unknown = ProviderKey {
        kid: "rsa-3".into(),
        ..rsa_key(1, "rsa-3")
    };
    provider.publish(&[&rsa, &ec, &rotated, &unknown]);
    let reply = app
        .get(&path, &sign(&unknown, &provider.claims("subject-1")))
        .await;
    reply.problem(401, "unauthorized");
    assert_eq!(provider.fetches(), 2, "no second refetch within the minute");
    // The keys already known still verify.
    assert_eq!(app.get(&path, &token).await.status, 200);
}

#[tokio::test]
async fn an_unreachable_provider_refuses_its_tokens_and_not_linkwells() {
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let issuer = format!("http://{}/realms/test", closed.local_addr().expect("addr"));
    drop(closed);
    let app = app_for(&issuer).await;
    let (user, own) = app.user(Role::Coordinator, None).await;
    assert_eq!(link(&app, user, &issuer, "subject-1").await.status, 201);
    let rsa = rsa_key(0, "rsa-1");
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"iss": issuer, "aud": CLIENT_ID, "sub": "subject-1",
                        "iat": now, "exp": now + 3600});
    let path = format!("/v1/users/{user}");
    for _ in 0..2 {
        let reply = app.get(&path, &sign(&rsa, &claims)).await;
        reply.problem(401, "unauthorized");
    }
    assert_eq!(app.get(&path, &own).await.status, 200);
    assert_eq!(app.get(&path, &app.admin()).await.status, 200);
}

#[tokio::test]
async fn a_discovery_document_naming_another_issuer_or_plain_http_keys_is_refused() {
    let rsa = rsa_key(0, "rsa-1");
    for (member, value) in [
        ("issuer", "https://idp.example.org/realms/test"),
        ("jwks_uri", "http://idp.example.org/realms/test/jwks"),
    ] {
        let provider = Provider::start(&[&rsa]);
        provider.discovery.lock().expect("discovery")[member] = json!(value);
        let app = app_for(&provider.issuer).await;
        let (user, _) = app.user(Role::Coordinator, None).await;
        assert_eq!(
            link(&app, user, &provider.issuer, "subject-1").await.status,
            201
        );
        let token = sign(&rsa, &provider.claims("subject-1"));
        let reply = app.get(&format!("/v1/users/{user}"), &token).await;
        reply.problem(401, "unauthorized");
        assert_eq!(
            provider.fetches(),
            0,
            "{member}: the keys are never fetched"
        );
    }
}

#[tokio::test]
async fn linking_identities_is_for_admins_and_checked() {
    let (provider, app, _, _, user) = world().await;
    let path = format!("/v1/users/{user}/identities");
    let body = json!({"issuer": provider.issuer, "subject": "subject-9"});
    app.post(&path, &app.coordinator(), &body)
        .await
        .problem(403, "forbidden");
    app.get(&path, &app.coordinator())
        .await
        .problem(403, "forbidden");

    let made = app.post(&path, &app.admin(), &body).await;
    assert_eq!(made.status, 201, "{}", made.text);
    let id = made.id();
    assert_eq!(
        made.header("location"),
        Some(format!("/v1/users/{user}/identities/{id}").as_str())
    );
    assert_eq!(made.body["user_id"], json!(user.to_string()));
    assert_eq!(made.body["subject"], "subject-9");
    assert!(made.body["created_at"].is_string());
    // Location reads back the link, for an admin, under its own user only.
    let read = app
        .get(&format!("/v1/users/{user}/identities/{id}"), &app.admin())
        .await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.body, made.body);
    app.get(
        &format!("/v1/users/{user}/identities/{id}"),
        &app.coordinator(),
    )
    .await
    .problem(403, "forbidden");
    app.get(
        &format!("/v1/users/{}/identities/{id}", Uuid::new_v4()),
        &app.admin(),
    )
    .await
    .problem(404, "not_found");

    // A user has a bounded handful of links, as the contract says.
    let cap = linkwell_domain::user_identity::MAX_PER_USER;
    let doc = serde_json::to_value(linkwell_api::openapi::document()).unwrap();
    assert_eq!(
        doc["components"]["schemas"]["UserIdentityList"]["properties"]["items"]["maxItems"],
        json!(cap)
    );
    let linked = app.get(&path, &app.admin()).await.body["items"]
        .as_array()
        .map_or(0, Vec::len);
    for n in linked..cap {
        let more = json!({"issuer": provider.issuer, "subject": format!("extra-{n}")});
        assert_eq!(app.post(&path, &app.admin(), &more).await.status, 201);
    }
    let over = json!({"issuer": provider.issuer, "subject": "one-too-many"});
    app.post(&path, &app.admin(), &over)
        .await
        .problem(409, "too_many_identities");
    let listed = app.get(&path, &app.admin()).await;
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(cap));

    // The pair is linked once, to this user or any other.
    let (other, _) = app.user(Role::Coordinator, None).await;
    let again = app
        .post(
            &format!("/v1/users/{other}/identities"),
            &app.admin(),
            &body,
        )
        .await;
    assert_eq!(
        again.problem(409, "duplicate")["existing_id"],
        json!(id.to_string())
    );

    let unknown = format!("/v1/users/{}/identities", Uuid::new_v4());
    app.post(&unknown, &app.admin(), &body)
        .await
        .problem(404, "not_found");
    app.get(&unknown, &app.admin())
        .await
        .problem(404, "not_found");

    for (issuer, subject, errors) in [
        (
            json!("http://idp.example.org"),
            json!("s"),
            vec![("/issuer", "issuer_format")],
        ),
        (
            json!("https://idp.example.org/?tenant=1"),
            json!(" s"),
            vec![
                ("/issuer", "issuer_format"),
                ("/subject", "subject_whitespace"),
            ],
        ),
        (
            json!(format!("https://{}.org", "a".repeat(260))),
            json!("a".repeat(256)),
            vec![("/issuer", "issuer_format"), ("/subject", "too_long")],
        ),
        (
            json!("https://idp.example.org"),
            json!(""),
            vec![("/subject", "blank")],
        ),
    ] {
        let reply = app
            .post(
                &path,
                &app.admin(),
                &json!({"issuer": issuer, "subject": subject}),
            )
            .await;
        reply.problem(422, "validation_failed");
        let expected: Vec<(String, String)> = errors
            .into_iter()
            .map(|(p, c)| (p.to_owned(), c.to_owned()))
            .collect();
        assert_eq!(reply.field_errors(), expected, "{}", reply.text);
    }
}

#[tokio::test]
async fn a_partner_signed_in_through_the_provider_sees_only_its_own_connections() {
    let rsa = rsa_key(0, "rsa-1");
    let provider = Provider::start(&[&rsa]);
    let app = app_for(&provider.issuer).await;
    let practice = app.organisation("Practice", "gp_practice").await;
    let ours = app.organisation("Ours", "partner").await;
    let theirs = app.organisation("Theirs", "partner").await;
    let referral = app.accepted(practice, "OIDC-1").await;
    let mut connections = Vec::new();
    for org in [ours, theirs] {
        let made = app
            .post(
                &format!("/v1/referrals/{referral}/connections"),
                &app.coordinator(),
                &json!({"organisation_id": org, "need": "money_and_benefits",
                        "consent_to_share": true, "shared_fields": []}),
            )
            .await;
        assert_eq!(made.status, 201, "{}", made.text);
        connections.push(made.id());
    }
    let (partner, _) = app.user(Role::Partner, Some(ours)).await;
    assert_eq!(
        link(&app, partner, &provider.issuer, "partner-1")
            .await
            .status,
        201
    );
    let token = sign(&rsa, &provider.claims("partner-1"));
    let listed = app.get("/v1/connections", &token).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let ids: Vec<&str> = listed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, vec![connections[0].to_string().as_str()]);
    app.get(&format!("/v1/connections/{}", connections[1]), &token)
        .await
        .problem(404, "not_found");
}
