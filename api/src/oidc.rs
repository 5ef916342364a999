//! Tokens from an external OpenID Connect provider (NHS CIS2, Entra ID, Keycloak…): Linkwell is
//! a resource server. The provider's keys come from the `jwks_uri` its discovery document names,
//! fetched on the first provider token and cached by `kid`; a token naming an unknown `kid`
//! refetches at most once a minute, one fetch however many requests wait for it. A verified
//! token acts as the Linkwell user an administrator linked its `sub` to, with that user's role
//! and organisation: the provider's own claims (`role`, `groups`…) are never read.
//!
//! Only RS256 (RSA of 2048 bits or more) and ES256 (P-256) verify; `iss` must be the configured
//! issuer exactly and `aud` contain the configured audience; `exp` is required, `nbf` and `iat`
//! are checked when present, with Linkwell's own leeway. Linkwell's maximum token lifetime does
//! not apply: providers set their own (typically an hour).

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use actix_web::web;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use linkwell_persistence::user_identities;
use serde::Deserialize;

use crate::auth::{Caller, LEEWAY_SECONDS};
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

/// The algorithms a provider's token may be signed with.
pub const ALGORITHMS: &[Algorithm] = &[Algorithm::RS256, Algorithm::ES256];
/// A token naming an unknown `kid` refetches the keys at most this often; a failed fetch is not
/// retried sooner either, so a provider outage costs one slow request a minute, not one each.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// Keys older than this are refetched on the next provider token (at most once a minute), so a
/// key the provider withdraws stops verifying here too.
pub const MAX_KEY_AGE: Duration = Duration::from_secs(60 * 60);
/// How long a discovery or key fetch may take, start to finish.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest discovery document or key set read.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// At most this many keys are kept from one key set.
const MAX_KEYS: usize = 50;
/// The smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// `LINKWELL_OIDC_ISSUER` and `LINKWELL_OIDC_AUDIENCE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// The provider's issuer identifier, exactly as its tokens' `iss` carries it.
    pub issuer: String,
    /// What the provider puts in `aud` for Linkwell (usually Linkwell's client id there).
    pub audience: String,
}

/// Why a provider token was refused, in words that help without echoing it.
fn invalid(detail: &str) -> ApiError {
    ApiError::Unauthorized {
        detail: detail.to_owned(),
        invalid_token: true,
    }
}

/// A key from the provider's set and the one algorithm it verifies.
#[derive(Clone)]
struct ProviderKey {
    alg: Algorithm,
    key: DecodingKey,
}

#[derive(Default)]
struct Keys {
    by_kid: HashMap<String, ProviderKey>,
    /// When the set was last fetched successfully.
    fetched_at: Option<Instant>,
    /// When a fetch last counted against [`REFETCH_INTERVAL`]: every fetch but a first one that
    /// succeeds, so a key rotated in just after start-up is still picked up at once.
    limited_at: Option<Instant>,
}

/// The configured provider and its cached keys.
pub struct Provider {
    settings: OidcSettings,
    client: reqwest::Client,
    keys: RwLock<Keys>,
    /// Held while fetching, so concurrent requests wait for one fetch rather than each make one.
    fetching: tokio::sync::Mutex<()>,
    validation: Validation,
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The claims read from a provider token; everything else in it is ignored.
#[derive(Debug, Deserialize)]
struct ProviderClaims {
    sub: String,
    iat: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl Provider {
    /// Makes the client; nothing is fetched until the first provider token arrives, so the
    /// server starts whether or not the provider is reachable.
    pub fn new(settings: OidcSettings) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            // A redirect could lead off https; the documents must be where they are named.
            .redirect(reqwest::redirect::Policy::none())
            // Fetches are minutes apart, and each worker runs its own runtime: no connection
            // is kept for a later fetch to reuse from another worker.
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| format!("making the OpenID Connect client: {e}"))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&[settings.audience.as_str()]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        Ok(Self {
            settings,
            client,
            keys: RwLock::new(Keys::default()),
            fetching: tokio::sync::Mutex::new(()),
            validation,
        })
    }

    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// Verifies a token this provider issued and says which Linkwell user presents it.
    pub async fn verify(
        &self,
        state: &web::Data<AppState>,
        token: &str,
    ) -> Result<Caller, ApiError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid("the token is not valid (malformed)"))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(invalid(
                "the token is not valid (algorithm not accepted: only RS256 and ES256)",
            ));
        }
        let kid = header
            .kid
            .ok_or_else(|| invalid("the token is not valid (its header names no key: kid)"))?;
        let key = self.key(&kid).await?;
        if key.alg != header.alg {
            return Err(invalid(
                "the token is not valid (its algorithm does not fit the key it names)",
            ));
        }
        let mut validation = self.validation.clone();
        validation.algorithms = vec![key.alg];
        let data = jsonwebtoken::decode::<ProviderClaims>(token, &key.key, &validation)
            .map_err(|e| invalid(&format!("the token is not valid ({})", kind_name(&e))))?;
        let now = chrono::Utc::now().timestamp();
        if data
            .claims
            .iat
            .is_some_and(|iat| iat > now + LEEWAY_SECONDS as i64)
        {
            return Err(invalid("the token is not valid (issued in the future)"));
        }
        self.user(state, data.claims.sub).await
    }

    /// The Linkwell user linked to the provider's `sub`, as a caller with the user's role and
    /// organisation.
    async fn user(&self, state: &web::Data<AppState>, sub: String) -> Result<Caller, ApiError> {
        let issuer = self.settings.issuer.clone();
        let user = db::run(state, move |conn| {
            Ok(user_identities::user_for(conn, &issuer, &sub)?)
        })
        .await?
        .ok_or_else(|| {
            invalid("the token's subject is not linked to a Linkwell user: ask an administrator")
        })?;
        if !user.active || state.revoked.contains(&user.id.to_string()) {
            return Err(invalid("the token's user has been deactivated"));
        }
        Ok(Caller {
            sub: user.id.to_string(),
            role: user.role,
            org: user.org_id,
        })
    }

    /// The key named `kid`, fetching the set when it is unknown or old (within the limits).
    async fn key(&self, kid: &str) -> Result<ProviderKey, ApiError> {
        let (cached, fresh) = self.cached(kid);
        if let (Some(key), true) = (&cached, fresh) {
            return Ok(key.clone());
        }
        let _one_fetch = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        let (cached, fresh) = self.cached(kid);
        if let (Some(key), true) = (&cached, fresh) {
            return Ok(key.clone());
        }
        let may_fetch = self
            .read_keys()
            .limited_at
            .is_none_or(|at| at.elapsed() >= REFETCH_INTERVAL);
        if !may_fetch {
            return cached.ok_or_else(unknown_key);
        }
        match self.fetch().await {
            Ok(by_kid) => {
                if let Ok(mut keys) = self.keys.write() {
                    let first = keys.fetched_at.is_none();
                    keys.by_kid = by_kid;
                    keys.fetched_at = Some(Instant::now());
                    if !first {
                        keys.limited_at = Some(Instant::now());
                    }
                }
                self.cached(kid).0.ok_or_else(unknown_key)
            }
            Err(why) => {
                log::warn!(
                    "could not fetch the keys of OpenID Connect provider {}: {why}",
                    self.settings.issuer
                );
                if let Ok(mut keys) = self.keys.write() {
                    keys.limited_at = Some(Instant::now());
                }
                // Old keys still verify while the provider is away.
                cached.ok_or_else(|| {
                    invalid(
                        "the identity provider's keys could not be fetched, so its tokens \
                         cannot be checked now; try again in a minute",
                    )
                })
            }
        }
    }

    fn read_keys(&self) -> std::sync::RwLockReadGuard<'_, Keys> {
        self.keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached key named `kid`, and whether the set is young enough to trust as it is.
    fn cached(&self, kid: &str) -> (Option<ProviderKey>, bool) {
        let keys = self.read_keys();
        let fresh = keys.fetched_at.is_some_and(|at| at.elapsed() < MAX_KEY_AGE);
        (keys.by_kid.get(kid).cloned(), fresh)
    }

    /// Discovery, then the key set it names.
    async fn fetch(&self) -> Result<HashMap<String, ProviderKey>, String> {
        let issuer = &self.settings.issuer;
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let discovery: Discovery = serde_json::from_slice(&self.get(&discovery_url).await?)
            .map_err(|e| format!("the discovery document does not parse: {e}"))?;
        if &discovery.issuer != issuer {
            return Err(format!(
                "the discovery document names issuer {:?}, not the configured {issuer:?}",
                discovery.issuer
            ));
        }
        linkwell_domain::user_identity::https_or_loopback(&discovery.jwks_uri)
            .map_err(|e| format!("its jwks_uri is refused: {e}"))?;
        let jwks: serde_json::Value = serde_json::from_slice(&self.get(&discovery.jwks_uri).await?)
            .map_err(|e| format!("the key set does not parse: {e}"))?;
        Ok(usable_keys(&jwks))
    }

    /// A document, read to at most [`MAX_DOCUMENT_BYTES`].
    async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let mut response = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: status {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!("GET {url}: larger than {MAX_DOCUMENT_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn unknown_key() -> ApiError {
    invalid("the token is not valid (signed by a key the identity provider does not publish)")
}

/// Members only a private or symmetric key has: such a key is never used.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The signing keys in a key set that verify RS256 (RSA, 2048 bits or more) or ES256 (P-256),
/// by `kid`; keys without a `kid`, for encryption, of other kinds or with private parts are
/// skipped.
fn usable_keys(jwks: &serde_json::Value) -> HashMap<String, ProviderKey> {
    let mut usable = HashMap::new();
    let keys = jwks.get("keys").and_then(|k| k.as_array());
    for value in keys.into_iter().flatten() {
        if usable.len() >= MAX_KEYS {
            break;
        }
        if PRIVATE_MEMBERS.iter().any(|m| value.get(m).is_some()) {
            continue;
        }
        let Ok(jwk) = serde_json::from_value::<Jwk>(value.clone()) else {
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        let for_signing = value.get("use").is_none_or(|u| u.as_str() == Some("sig"));
        let Some(alg) = key_algorithm(&jwk) else {
            continue;
        };
        let declared = value.get("alg").and_then(|a| a.as_str());
        if !for_signing || declared.is_some_and(|d| Some(d) != alg_name(alg)) {
            continue;
        }
        if let Ok(key) = DecodingKey::from_jwk(&jwk) {
            usable.entry(kid).or_insert(ProviderKey { alg, key });
        }
    }
    usable
}

/// The one algorithm a key verifies here, if it is a kind accepted at all.
fn key_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let n = URL_SAFE_NO_PAD.decode(rsa.n.trim_end_matches('=')).ok()?;
            let significant = n.iter().skip_while(|b| **b == 0).count();
            (significant >= MIN_RSA_MODULUS_BYTES).then_some(Algorithm::RS256)
        }
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Some(Algorithm::ES256)
        }
        _ => None,
    }
}

fn alg_name(alg: Algorithm) -> Option<&'static str> {
    match alg {
        Algorithm::RS256 => Some("RS256"),
        Algorithm::ES256 => Some("ES256"),
        _ => None,
    }
}

fn kind_name(e: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => "expired",
        K::ImmatureSignature => "not yet valid",
        K::InvalidIssuer => "wrong issuer",
        K::InvalidAudience => "wrong audience",
        K::InvalidSignature => "bad signature",
        K::InvalidAlgorithm | K::InvalidAlgorithmName => "algorithm not accepted",
        K::MissingRequiredClaim(_) => "a required claim is missing",
        _ => "malformed",
    }
}

/// The `iss` a token claims, read without verifying anything: it only chooses which verifier
/// checks the token, and each verifier checks `iss` again against its own keys.
pub fn claimed_issuer(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Peek {
        iss: Option<String>,
    }
    jsonwebtoken::dangerous::insecure_decode_claims::<Peek>(token)
        .ok()
        .and_then(|peek| peek.iss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rs256_and_es256_signing_keys_with_a_kid_are_kept() {
        let weak_n = "AQAB";
        let jwks = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "weak", "n": weak_n, "e": "AQAB"},
            {"kty": "oct", "kid": "secret", "k": "c2VjcmV0"},
            {"kty": "EC", "kid": "p384", "crv": "P-384",
             "x": "AAAA", "y": "AAAA"},
            {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
        ]});
        assert!(usable_keys(&jwks).is_empty());
        assert!(usable_keys(&serde_json::json!({"nokeys": []})).is_empty());
    }

    #[test]
    fn the_claimed_issuer_is_read_without_trusting_it() {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let token = format!(
            "{}.{}.sig",
            b64(r#"{"alg":"none"}"#),
            b64(r#"{"iss":"https://idp.example.org"}"#)
        );
        assert_eq!(
            claimed_issuer(&token).as_deref(),
            Some("https://idp.example.org")
        );
        assert_eq!(claimed_issuer("not a token"), None);
    }
}
