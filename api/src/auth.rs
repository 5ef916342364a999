//! Bearer tokens: HS256 JWTs with pinned algorithm, issuer and audience, and the `Caller` they
//! prove. Configured deliberately against jsonwebtoken's defaults (RFC 8725): `nbf` checked,
//! `iss`/`aud`/`sub`/`exp`/`nbf` required, leeway 30 s, key of at least 32 bytes.

use std::fmt;
use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use linkwell_domain::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

/// Shortest HS256 key accepted (RFC 7518 §3.2: at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 30;

/// What a Linkwell access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: Audience,
    pub sub: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
}

/// Signs and verifies tokens.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKeys")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// The key was too short to be safe.
#[derive(Debug, thiserror::Error)]
#[error("the JWT secret must be at least {MIN_SECRET_BYTES} bytes (got {0})")]
pub struct WeakSecret(pub usize);

impl TokenKeys {
    pub fn new(secret: &[u8], issuer: &str, audience: &str) -> Result<Self, WeakSecret> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(WeakSecret(secret.len()));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// Signs a token for `role` and `sub`, valid from now for `ttl_seconds`.
    pub fn issue(
        &self,
        role: Role,
        sub: &str,
        org: Option<Uuid>,
        ttl_seconds: i64,
    ) -> Result<String, ApiError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: Audience::One(self.audience.clone()),
            sub: sub.to_owned(),
            role: role.as_str().to_owned(),
            org: org.map(|o| o.to_string()),
            exp: now + ttl_seconds,
            nbf: now,
            iat: now,
            jti: Uuid::new_v4().to_string(),
        };
        self.sign(&claims)
    }

    /// Signs arbitrary claims (tests use this for expired or odd tokens).
    pub fn sign(&self, claims: &Claims) -> Result<String, ApiError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| ApiError::Internal(format!("signing a token: {e}")))
    }

    /// Verifies a token and says who presented it.
    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| invalid(&format!("the token is not valid ({})", e.kind_name())))?;
        Caller::from_claims(data.claims)
    }
}

/// Short names for token failures, so the detail helps without echoing token contents.
trait KindName {
    fn kind_name(&self) -> &'static str;
}

impl KindName for jsonwebtoken::errors::Error {
    fn kind_name(&self) -> &'static str {
        use jsonwebtoken::errors::ErrorKind as K;
        match self.kind() {
            K::ExpiredSignature => "expired",
            K::ImmatureSignature => "not yet valid",
            K::InvalidIssuer => "wrong issuer",
            K::InvalidAudience => "wrong audience",
            K::InvalidSignature => "bad signature",
            K::InvalidAlgorithm | K::InvalidAlgorithmName => "algorithm not accepted",
            K::MissingRequiredClaim(_) => "a required claim is missing",
            K::InvalidToken | K::Base64(_) | K::Json(_) | K::Utf8(_) => "malformed",
            _ => "rejected",
        }
    }
}

fn invalid(detail: &str) -> ApiError {
    ApiError::Unauthorized {
        detail: detail.to_owned(),
        invalid_token: true,
    }
}

/// A subject is stored in audit rows, so it must be one plain line of 1 to 200 characters.
pub fn check_subject(sub: &str) -> Result<(), &'static str> {
    let ok =
        !sub.trim().is_empty() && sub.chars().count() <= 200 && !sub.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err("subject must be 1 to 200 characters with no control characters")
    }
}

/// The audience: one string, or an array as RFC 7519 also allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The verified identity behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub sub: String,
    pub role: Role,
    /// The organisation a referrer or partner acts for.
    pub org: Option<Uuid>,
}

impl Caller {
    fn from_claims(claims: Claims) -> Result<Self, ApiError> {
        let role: Role = claims
            .role
            .parse()
            .map_err(|_| invalid("the token's role is not one of Linkwell's roles"))?;
        check_subject(&claims.sub).map_err(|problem| invalid(&format!("the token's {problem}")))?;
        let org = claims
            .org
            .map(|o| Uuid::parse_str(&o))
            .transpose()
            .map_err(|_| invalid("the token's org must be an organisation id"))?;
        if role.needs_org() && org.is_none() {
            return Err(invalid("a referrer or partner token must name its org"));
        }
        Ok(Self {
            sub: claims.sub,
            role,
            org,
        })
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<Caller, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal("application state missing".into()))?;
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized {
            detail: "send `Authorization: Bearer <token>`".into(),
            invalid_token: false,
        })?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("the Authorization header must be `Bearer <token>`"))?;
    let caller = state.tokens.verify(token)?;
    if state.revoked.contains(&caller.sub) {
        return Err(invalid("the token's user has been deactivated"));
    }
    Ok(caller)
}
