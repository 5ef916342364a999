//! How registered systems prove who they are: generated ids and secrets (stored as argon2
//! hashes), and the public keys of systems that sign assertions instead (`private_key_jwt`,
//! RFC 7523), checked when registered and when used.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use linkwell_domain::Invalid;
use rand::RngCore;
use serde::Deserialize;

use crate::error::ApiError;

/// The algorithms a system may sign its assertions with (NHS England's signed-JWT pattern
/// uses RS512 too; RS256/RS384/ES256/ES384 are what this service accepts).
pub const ASSERTION_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// At most this many keys per system: enough to rotate, few enough to try each.
pub const MAX_KEYS: usize = 10;
/// The smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;

fn random_text(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

/// A fresh `client_id`: `lw_` and 128 random bits.
pub fn new_client_id() -> String {
    format!("lw_{}", random_text(16))
}

/// A fresh secret: 256 random bits, base64url.
pub fn new_secret() -> String {
    random_text(32)
}

/// The secret's argon2id hash as a PHC string, with a fresh salt.
pub fn hash_secret(secret: &str) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| ApiError::Internal(format!("making a salt: {e}")))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| ApiError::Internal(format!("hashing a client secret: {e}")))
}

/// Whether `secret` is the one `hash` was made from (in constant time, by argon2).
pub fn secret_matches(hash: &str, secret: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A system's public keys, checked: public RSA (2048 to 4096 bits) or EC P-256/P-384 keys only.
#[derive(Debug, Clone)]
pub struct ClientJwks(JwkSet);

/// Members that only a private key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a key set was refused, and where: `pointer` is relative to the key set (`""` for the
/// whole set, `/keys/0/n` for one member of one key).
#[derive(Debug)]
pub struct JwksRefusal {
    pub pointer: String,
    pub invalid: Invalid,
}

impl JwksRefusal {
    fn set(message: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        Self {
            pointer: String::new(),
            invalid: Invalid::new("invalid_jwks", message),
        }
    }

    fn key(i: usize, member: &str, message: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        let pointer = match member {
            "" => format!("/keys/{i}"),
            member => format!("/keys/{i}/{member}"),
        };
        Self {
            pointer,
            invalid: Invalid::new("invalid_jwk", message),
        }
    }
}

impl ClientJwks {
    /// Reads a JSON Web Key Set as sent at registration, building each key's verifying key
    /// now so that a key that could never verify is refused here, not at the first token.
    pub fn parse(value: &serde_json::Value) -> Result<Self, JwksRefusal> {
        let keys = value
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or_else(|| {
                JwksRefusal::set("must be a JSON Web Key Set: an object with a `keys` array")
            })?;
        if keys.is_empty() || keys.len() > MAX_KEYS {
            return Err(JwksRefusal::set(format!("must hold 1 to {MAX_KEYS} keys")));
        }
        for key in keys {
            if PRIVATE_MEMBERS.iter().any(|m| key.get(m).is_some()) {
                return Err(JwksRefusal {
                    pointer: String::new(),
                    invalid: Invalid::new(
                        "private_key_in_jwks",
                        "holds a private or symmetric key: register public keys only, and keep the private key with the system",
                    ),
                });
            }
        }
        for (i, key) in keys.iter().enumerate() {
            check_use_and_alg(key).map_err(|(member, why)| JwksRefusal::key(i, member, why))?;
        }
        let set: JwkSet = serde_json::from_value(value.clone())
            .map_err(|e| JwksRefusal::set(format!("is not a JSON Web Key Set: {e}")))?;
        for (i, jwk) in set.keys.iter().enumerate() {
            verifying_key(jwk).map_err(|(member, why)| JwksRefusal::key(i, member, why))?;
        }
        Ok(Self(set))
    }

    /// Reads keys stored at registration (already checked then).
    pub fn stored(json: &str) -> Result<Self, ApiError> {
        serde_json::from_str(json)
            .map(Self)
            .map_err(|e| ApiError::Internal(format!("a stored client JWKS does not parse: {e}")))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_default()
    }

    /// The keys that may have signed a token with this header: the one named by `kid`, or,
    /// without a `kid`, every key of the algorithm's family.
    fn candidates(&self, kid: Option<&str>, alg: Algorithm) -> Vec<&Jwk> {
        self.0
            .keys
            .iter()
            .filter(|jwk| match kid {
                Some(kid) => jwk.common.key_id.as_deref() == Some(kid),
                None => true,
            })
            .filter(|jwk| fits(jwk, alg))
            .collect()
    }
}

/// A key's problem: the member at fault (`""` for the key as a whole) and why.
type KeyProblem = (&'static str, String);

/// `use`, if given, must be `sig`; `alg`, if given, one this service accepts and of the key's
/// type and curve (checked on the JSON, before the library reads the names).
fn check_use_and_alg(key: &serde_json::Value) -> Result<(), KeyProblem> {
    let text = |member: &str| key.get(member).map(|v| v.as_str().unwrap_or("\u{0}"));
    if let Some(usage) = text("use")
        && usage != "sig"
    {
        return Err(("use", "must be `sig`: the key checks signatures".into()));
    }
    let Some(alg) = text("alg") else {
        return Ok(());
    };
    let expected: &[&str] = match (text("kty"), text("crv")) {
        (Some("RSA"), _) => &["RS256", "RS384"],
        (Some("EC"), Some("P-256")) => &["ES256"],
        (Some("EC"), Some("P-384")) => &["ES384"],
        // The type or curve itself is refused below, with its own words.
        _ => return Ok(()),
    };
    if expected.contains(&alg) {
        Ok(())
    } else {
        Err((
            "alg",
            format!(
                "must be {} for this key's kty and crv",
                expected.join(" or ")
            ),
        ))
    }
}

/// The largest RSA modulus accepted (4096 bits): larger keys cost more to verify on an open
/// endpoint and buy nothing.
const MAX_RSA_MODULUS_BITS: usize = 4096;

/// Builds the key that would verify the system's assertions, refusing what could not.
fn verifying_key(jwk: &Jwk) -> Result<DecodingKey, KeyProblem> {
    let decode = |member: &'static str, text: &str| {
        URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|_| (member, "is not base64url".to_owned()))
    };
    match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let n = rsa::BigUint::from_bytes_be(&decode("n", &rsa.n)?);
            let e = rsa::BigUint::from_bytes_be(&decode("e", &rsa.e)?);
            let bits = n.bits();
            if !(MIN_RSA_MODULUS_BYTES * 8..=MAX_RSA_MODULUS_BITS).contains(&bits) {
                return Err((
                    "n",
                    format!("an RSA modulus must have 2048 to 4096 bits, not {bits}"),
                ));
            }
            rsa::RsaPublicKey::new(n, e)
                .map_err(|e| ("e", format!("is not a valid RSA public key: {e}")))?;
        }
        AlgorithmParameters::EllipticCurve(ec) => {
            let mut point = vec![0x04];
            point.extend(decode("x", &ec.x)?);
            point.extend(decode("y", &ec.y)?);
            let on_curve = match ec.curve {
                EllipticCurve::P256 => p256::PublicKey::from_sec1_bytes(&point).is_ok(),
                EllipticCurve::P384 => p384::PublicKey::from_sec1_bytes(&point).is_ok(),
                _ => return Err(("crv", "an EC key must be on P-256 or P-384".into())),
            };
            if !on_curve {
                return Err(("", "(x, y) is not a point on the curve `crv`".into()));
            }
        }
        _ => {
            return Err((
                "kty",
                "only RSA and EC (P-256, P-384) keys are accepted".into(),
            ));
        }
    }
    DecodingKey::from_jwk(jwk).map_err(|e| ("", format!("is not a usable key: {e}")))
}

/// Whether `jwk` can check a signature made with `alg`.
fn fits(jwk: &Jwk, alg: Algorithm) -> bool {
    match (&jwk.algorithm, alg) {
        (AlgorithmParameters::RSA(_), Algorithm::RS256 | Algorithm::RS384) => true,
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => {
            ec.curve == EllipticCurve::P256
        }
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES384) => {
            ec.curve == EllipticCurve::P384
        }
        _ => false,
    }
}

/// What an accepted assertion says.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Assertion {
    pub jti: String,
    pub exp: i64,
}

#[derive(Debug, Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    jti: String,
    exp: i64,
}

/// The one answer for a client that is unknown, revoked, of the other kind, or whose
/// credentials do not verify.
pub const NOT_VERIFIED: &str = "the client is unknown, revoked, or its credentials are wrong";

/// A hash of no one's secret, checked when a client is unknown or has no secret, so that a
/// wrong secret and an unknown client take the same time to refuse.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_secret(&new_secret()).unwrap_or_default())
}

/// Why an assertion was refused: said to the client as `invalid_client`, in words that help
/// without echoing the token.
pub type AssertionRefusal = &'static str;

/// Checks a client assertion (RFC 7523 §3): signed by one of the system's keys with an
/// accepted algorithm; `iss` = `sub` = `client_id`; `aud` the token endpoint's URL; `exp` in
/// the future and at most `max_seconds` ahead; a `jti` of 1 to 255 characters. Whether the
/// `jti` was used before is for the caller to record.
pub fn check_assertion(
    keys: &ClientJwks,
    assertion: &str,
    client_id: &str,
    audience: &str,
    now: i64,
    max_seconds: i64,
) -> Result<Assertion, AssertionRefusal> {
    let header =
        jsonwebtoken::decode_header(assertion).map_err(|_| "the assertion is malformed")?;
    if !ASSERTION_ALGORITHMS.contains(&header.alg) {
        return Err("the assertion's algorithm is not accepted (RS256, RS384, ES256, ES384)");
    }
    let mut validation = Validation::new(header.alg);
    validation.algorithms = vec![header.alg];
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.set_issuer(&[client_id]);
    validation.set_audience(&[audience]);
    validation.leeway = crate::auth::LEEWAY_SECONDS;
    validation.validate_nbf = true;
    // Until a signature verifies, every refusal reads the same as an unknown client's: the
    // caller learns nothing of which kids or key types a system registered.
    let candidates = keys.candidates(header.kid.as_deref(), header.alg);
    if candidates.is_empty() {
        return Err(NOT_VERIFIED);
    }
    let mut outcome = Err(NOT_VERIFIED);
    for jwk in candidates {
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        match jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation) {
            Ok(data) => {
                outcome = Ok(data.claims);
                break;
            }
            Err(e) => {
                use jsonwebtoken::errors::ErrorKind as K;
                outcome = Err(match e.kind() {
                    K::InvalidSignature => NOT_VERIFIED,
                    K::ImmatureSignature => "the assertion is not valid yet (nbf)",
                    K::ExpiredSignature => "the assertion has expired",
                    K::InvalidIssuer => "the assertion's iss must be the client_id",
                    K::InvalidAudience => "the assertion's aud must be this token endpoint's URL",
                    K::MissingRequiredClaim(_) => "the assertion lacks iss, sub, aud, exp or jti",
                    _ => "the assertion is malformed",
                });
                if !matches!(e.kind(), K::InvalidSignature) {
                    break;
                }
            }
        }
    }
    let claims = outcome?;
    if claims.sub != client_id || claims.iss != client_id {
        return Err("the assertion's iss and sub must both be the client_id");
    }
    if claims.exp > now + max_seconds {
        return Err("the assertion lives too long: exp at most 5 minutes ahead");
    }
    if claims.jti.is_empty() || claims.jti.chars().count() > 255 {
        return Err("the assertion's jti must be 1 to 255 characters");
    }
    Ok(Assertion {
        jti: claims.jti,
        exp: claims.exp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_verifies_against_its_hash_only() {
        let secret = new_secret();
        let hash = hash_secret(&secret).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains(&secret));
        assert!(secret_matches(&hash, &secret));
        assert!(!secret_matches(&hash, "not the secret"));
        assert!(!secret_matches("not a hash", &secret));
    }

    #[test]
    fn ids_and_secrets_are_fresh_and_url_safe() {
        let (a, b) = (new_client_id(), new_client_id());
        assert_ne!(a, b);
        assert!(a.starts_with("lw_") && a.len() == 25);
        assert_eq!(new_secret().len(), 43);
    }

    #[test]
    fn each_key_is_built_and_refused_where_it_is_wrong() {
        let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let mut good: serde_json::Value =
            serde_json::from_str(&secret.public_key().to_jwk_string()).unwrap_or_default();
        good["use"] = serde_json::json!("sig");
        good["alg"] = serde_json::json!("ES256");
        let refused = |jwk: serde_json::Value| {
            ClientJwks::parse(&serde_json::json!({"keys": [jwk]}))
                .err()
                .map(|r| (r.pointer, r.invalid.code))
        };
        assert!(refused(good.clone()).is_none());
        let mut y = URL_SAFE_NO_PAD
            .decode(good["y"].as_str().unwrap_or_default())
            .unwrap_or_default();
        y[0] ^= 0x80;
        let mut off_curve = good.clone();
        off_curve["y"] = serde_json::json!(URL_SAFE_NO_PAD.encode(&y));
        assert_eq!(
            refused(off_curve),
            Some(("/keys/0".to_owned(), "invalid_jwk"))
        );
        for (member, value) in [("use", "enc"), ("alg", "ES384"), ("alg", "RS256")] {
            let mut jwk = good.clone();
            jwk[member] = serde_json::json!(value);
            assert_eq!(
                refused(jwk),
                Some((format!("/keys/0/{member}"), "invalid_jwk")),
                "{member}: {value}"
            );
        }
        let rsa = |bytes: usize, alg: &str| {
            let mut n = vec![0xffu8; bytes];
            n[0] = 0xc1;
            serde_json::json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode(&n), "e": "AQAB", "alg": alg})
        };
        assert!(refused(rsa(256, "RS256")).is_none());
        assert!(refused(rsa(512, "RS384")).is_none());
        for bytes in [255, 513] {
            assert_eq!(
                refused(rsa(bytes, "RS256")),
                Some(("/keys/0/n".to_owned(), "invalid_jwk"))
            );
        }
        assert_eq!(
            refused(rsa(256, "ES256")),
            Some(("/keys/0/alg".to_owned(), "invalid_jwk"))
        );
    }

    #[test]
    fn private_symmetric_and_weak_keys_are_refused() {
        let code = |v: serde_json::Value| ClientJwks::parse(&v).unwrap_err().invalid.code;
        assert_eq!(
            code(
                serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "c"}]})
            ),
            "private_key_in_jwks"
        );
        assert_eq!(
            code(serde_json::json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})),
            "private_key_in_jwks"
        );
        assert_eq!(code(serde_json::json!({"keys": []})), "invalid_jwks");
        assert_eq!(code(serde_json::json!([])), "invalid_jwks");
        assert_eq!(
            code(serde_json::json!({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]})),
            "invalid_jwk"
        );
    }
}
