//! Bearer tokens: ES256 JWTs signed with Linkwell's own key (`signing_keys`), each naming its
//! key by `kid`, with pinned algorithm, issuer and audience, and the `Caller` they prove.
//! Configured deliberately against jsonwebtoken's defaults (RFC 8725): only ES256 (so neither
//! `none` nor HS256 keyed with a public key), `nbf` checked, `iss`/`aud`/`sub`/`exp`/`nbf`
//! required, leeway 30 s.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::RwLock;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use linkwell_domain::{OrganisationKind, Role};
use linkwell_persistence::{DbConnection, StoreError, organisations};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db;
use crate::error::ApiError;
use crate::signing_keys::{Jwks, KeyError, SigningKey, VerifyKey};
use crate::state::AppState;
use crate::verified_tokens::VerifiedTokens;

/// The one algorithm Linkwell signs and accepts.
pub const ALGORITHM: Algorithm = Algorithm::ES256;
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 30;
/// The longest token lifetime accepted unless configured (`LINKWELL_MAX_TOKEN_TTL`): 24 h.
pub const DEFAULT_MAX_TTL_SECONDS: i64 = 24 * 60 * 60;

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

/// Signs with the signing key; verifies with it and the older keys still configured.
pub struct TokenKeys {
    encoding: EncodingKey,
    /// The signing key's `kid`, written in every token's header.
    kid: String,
    /// Every key that verifies, by `kid`.
    decoding: HashMap<String, DecodingKey>,
    /// The public keys, as published at `/.well-known/jwks.json`.
    jwks: Jwks,
    validation: Validation,
    issuer: String,
    audience: String,
    /// The longest lifetime accepted, in seconds.
    max_ttl: i64,
    /// Tokens already verified, until they expire.
    verified: VerifiedTokens,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKeys")
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// Signs with `signing`; verifies with it and with each of `verify` (older keys whose
    /// tokens may still be alive).
    pub fn new(
        signing: &SigningKey,
        verify: &[VerifyKey],
        issuer: &str,
        audience: &str,
    ) -> Result<Self, KeyError> {
        let mut validation = Validation::new(ALGORITHM);
        validation.algorithms = vec![ALGORITHM];
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        let mut decoding = HashMap::new();
        let mut jwks = Jwks { keys: Vec::new() };
        // The signing key first; a key listed twice (or also signing) is published once.
        for key in std::iter::once(signing.public()).chain(verify) {
            if !decoding.contains_key(key.kid()) {
                decoding.insert(key.kid().to_owned(), key.decoding_key());
                jwks.keys.push(key.jwk());
            }
        }
        Ok(Self {
            encoding: signing.encoding_key()?,
            kid: signing.kid().to_owned(),
            decoding,
            jwks,
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            max_ttl: DEFAULT_MAX_TTL_SECONDS,
            verified: VerifiedTokens::default(),
        })
    }

    /// The public keys that verify this server's tokens.
    pub fn jwks(&self) -> &Jwks {
        &self.jwks
    }

    /// The signing key's id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Accepts tokens living at most `max_ttl` (24 h unless set).
    pub fn with_max_ttl(mut self, max_ttl: std::time::Duration) -> Self {
        self.max_ttl = i64::try_from(max_ttl.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// The longest lifetime accepted, in seconds.
    pub fn max_ttl_seconds(&self) -> i64 {
        self.max_ttl
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
        let header = Header {
            kid: Some(self.kid.clone()),
            ..Header::new(ALGORITHM)
        };
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| ApiError::Internal(format!("signing a token: {e}")))
    }

    /// Verifies a token and says who presented it.
    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        let now = chrono::Utc::now().timestamp();
        if let Some(caller) = self.verified.get(token, now) {
            return Ok(caller);
        }
        let rejected = |e: jsonwebtoken::errors::Error| {
            invalid(&format!("the token is not valid ({})", e.kind_name()))
        };
        // The header picks the key, so it is checked before anything is trusted: the
        // algorithm must be ES256 whatever the key, and the kid one of this server's.
        let header = jsonwebtoken::decode_header(token).map_err(rejected)?;
        if header.alg != ALGORITHM {
            return Err(invalid(
                "the token is not valid (algorithm not accepted: only ES256)",
            ));
        }
        let kid = header
            .kid
            .ok_or_else(|| invalid("the token is not valid (its header names no key: kid)"))?;
        let key = self.decoding.get(&kid).ok_or_else(|| {
            invalid("the token is not valid (signed by a key this server does not know)")
        })?;
        let data =
            jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(rejected)?;
        self.check_lifetime(&data.claims, now)?;
        let exp = data.claims.exp;
        let caller = Caller::from_claims(data.claims)?;
        self.verified.put(token, &caller, exp, now);
        Ok(caller)
    }

    /// A token may live at most the maximum: from its `iat` to its `exp`, and from now to its
    /// `exp` (so a made-up `iat` cannot stretch it), with the usual leeway for clock skew.
    fn check_lifetime(&self, claims: &Claims, now: i64) -> Result<(), ApiError> {
        let leeway = LEEWAY_SECONDS as i64;
        let lifetime = claims.exp.saturating_sub(claims.iat);
        let remaining = claims.exp.saturating_sub(now);
        if lifetime > self.max_ttl || remaining > self.max_ttl.saturating_add(leeway) {
            return Err(invalid(&format!(
                "the token lives longer than the {} s this server accepts (LINKWELL_MAX_TOKEN_TTL)",
                self.max_ttl
            )));
        }
        Ok(())
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
/// The longest token subject accepted, and so the longest `created_by` and the like.
pub const MAX_SUBJECT_CHARS: usize = 200;

pub fn check_subject(sub: &str) -> Result<(), &'static str> {
    let ok = !sub.trim().is_empty()
        && sub.chars().count() <= MAX_SUBJECT_CHARS
        && !sub.chars().any(char::is_control);
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
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let token = token?;
            let state =
                state.ok_or_else(|| ApiError::Internal("application state missing".into()))?;
            let caller = authenticate(&state, &token).await?;
            let Some(org) = caller.org else {
                return Ok(caller);
            };
            match organisation_kind(&state, org).await? {
                None => Err(invalid("the token's org names no registered organisation")),
                Some(kind) if !caller.role.may_act_for(kind) => Err(invalid(&format!(
                    "a {} token cannot act for a {} organisation",
                    caller.role,
                    kind.as_str()
                ))),
                Some(_) => Ok(caller),
            }
        })
    }
}

/// The kind of organisation `org`, from what tokens have already named or else the register;
/// `None` when it is not registered.
pub async fn organisation_kind(
    state: &web::Data<AppState>,
    org: Uuid,
) -> Result<Option<OrganisationKind>, ApiError> {
    if let Some(kind) = state.organisations.kind(org) {
        return Ok(Some(kind));
    }
    let lookup = state.clone();
    db::run(state, move |conn| {
        Ok(lookup.organisations.load(conn, org)?)
    })
    .await
}

/// The kinds of the organisations tokens have named, so a token's `org` is checked against
/// the register without a database round trip per request. Organisations are only ever
/// created (never deleted, and their kind never changes), so a kind once read stays true; an
/// id not (yet) registered is not remembered, and is looked up again next time.
#[derive(Debug, Default)]
pub struct KnownOrganisations(RwLock<HashMap<Uuid, OrganisationKind>>);

impl KnownOrganisations {
    /// The kind of `org`, if already known here.
    pub fn kind(&self, org: Uuid) -> Option<OrganisationKind> {
        self.0
            .read()
            .ok()
            .and_then(|known| known.get(&org).copied())
    }

    /// Reads `org` from the register, remembering its kind if it is there.
    pub fn load(
        &self,
        conn: &mut DbConnection,
        org: Uuid,
    ) -> Result<Option<OrganisationKind>, StoreError> {
        let kind = organisations::get(conn, org)?.map(|o| o.kind);
        if let (Some(kind), Ok(mut known)) = (kind, self.0.write()) {
            known.insert(org, kind);
        }
        Ok(kind)
    }
}

/// The bearer token the request carries.
fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized {
            detail: "send `Authorization: Bearer <token>`".into(),
            invalid_token: false,
        })?;
    value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| invalid("the Authorization header must be `Bearer <token>`"))
}

/// Verifies `token` as the configured OpenID Connect provider's when it claims that issuer,
/// otherwise as Linkwell's own. Each verifier holds only its own keys and pins its own `iss`,
/// so a token cannot pass one path with the other's key.
async fn authenticate(state: &web::Data<AppState>, token: &str) -> Result<Caller, ApiError> {
    let caller = match &state.oidc {
        Some(provider)
            if crate::oidc::claimed_issuer(token).as_deref() == Some(provider.issuer()) =>
        {
            provider.verify(state, token).await?
        }
        _ => state.tokens.verify(token)?,
    };
    if state.revoked.contains(&caller.sub) {
        return Err(invalid("the token's user has been deactivated"));
    }
    Ok(caller)
}
