//! The OAuth 2 token endpoint for registered systems (RFC 6749 §4.4, client credentials). A
//! system authenticates with its secret (`client_secret_post` or `client_secret_basic`) or with
//! an assertion signed by one of its registered keys (`private_key_jwt`, RFC 7523: NHS England's
//! signed-JWT pattern), and gets a short-lived bearer token carrying the role and organisation
//! it was registered with.
//!
//! Errors follow RFC 6749 §5.2 (`error`, `error_description`), which OAuth client libraries
//! read; the same bodies carry the problem-details members every other error has.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, post, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use linkwell_domain::api_client::MAX_ASSERTION_SECONDS;
use linkwell_domain::{ApiClient, ClientCredential};
use linkwell_persistence::api_clients;
use serde::Serialize;
use utoipa::ToSchema;

use crate::access;
use crate::audit::{Actor, Outcome};
use crate::auth::Caller;
use crate::client_keys::{self, ClientJwks};
use crate::error::ApiError;
use crate::middleware::StandardErrorBody;
use crate::state::AppState;
use crate::{clock, db, extract};

/// RFC 7523's value of `client_assertion_type` for a signed JWT.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A token.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The bearer token to send as `Authorization: Bearer …`: a JWT of a header with a key
    /// id, and claims of ids, a role and times.
    #[schema(max_length = 2048)]
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(max_length = 6)]
    pub token_type: &'static str,
    /// Seconds the token lives.
    #[schema(value_type = crate::schema::Seconds)]
    pub expires_in: i64,
}

/// An RFC 6749 §5.2 error, with the problem-details members too.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unsupported_grant_type`.
    #[schema(max_length = 64)]
    pub error: &'static str,
    #[schema(max_length = 2000)]
    pub error_description: String,
    #[serde(rename = "type")]
    #[schema(max_length = 255)]
    pub problem_type: String,
    #[schema(max_length = 200)]
    pub title: &'static str,
    #[schema(minimum = 400, maximum = 499)]
    pub status: u16,
    #[schema(max_length = 2000)]
    pub detail: String,
    /// The same as `error`, as every problem has it.
    #[schema(max_length = 64)]
    pub code: &'static str,
    /// The request's id (`X-Request-Id`).
    #[schema(max_length = 128)]
    pub instance: String,
}

/// A refused token request: what RFC 6749 calls it, and whether the client used Basic
/// authentication (then 401 carries a Basic challenge).
#[derive(Debug)]
struct Refused {
    error: &'static str,
    description: String,
    basic: bool,
}

impl Refused {
    fn request(description: impl Into<String>) -> Self {
        Self {
            error: "invalid_request",
            description: description.into(),
            basic: false,
        }
    }

    fn client(description: impl Into<String>, basic: bool) -> Self {
        Self {
            error: "invalid_client",
            description: description.into(),
            basic,
        }
    }

    fn into_response(self, req: &HttpRequest) -> HttpResponse {
        let status = match self.error {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        };
        let title = match self.error {
            "invalid_client" => "Client authentication failed",
            "unsupported_grant_type" => "Grant type not supported",
            _ => "Invalid token request",
        };
        let mut response = HttpResponse::build(status);
        no_store(&mut response);
        if status == StatusCode::UNAUTHORIZED {
            let scheme = if self.basic { "Basic" } else { "Bearer" };
            response.insert_header((
                header::WWW_AUTHENTICATE,
                format!("{scheme} realm=\"linkwell\""),
            ));
        }
        // The description can quote the request: cut to the documented bound.
        let mut description = self.description;
        crate::error::cut(&mut description, crate::error::limits::DETAIL_CHARS);
        let mut response = response.json(TokenError {
            error: self.error,
            problem_type: crate::error::problem_type(self.error),
            code: self.error,
            instance: req
                .extensions()
                .get::<crate::middleware::RequestId>()
                .map(|r| r.0.clone())
                .unwrap_or_default(),
            title,
            status: status.as_u16(),
            detail: description.clone(),
            error_description: description,
        });
        response.extensions_mut().insert(StandardErrorBody);
        response
    }
}

/// Tokens and refusals are never cached (RFC 6749 §5.1).
fn no_store(response: &mut actix_web::HttpResponseBuilder) {
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    response.insert_header((header::PRAGMA, "no-cache"));
}

/// How the system proved who it is.
enum Credentials {
    Secret {
        client_id: String,
        secret: String,
        basic: bool,
    },
    Assertion {
        client_id: Option<String>,
        assertion: String,
    },
}

/// The most parameters a token request may carry.
const MAX_PARAMETERS: usize = 16;

/// The form's parameters, each at most once (RFC 6749 §3.2).
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Result<Self, Refused> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| Refused::request("the body must be application/x-www-form-urlencoded"))?;
        // A token request has a handful of parameters; thousands are an attack on the parser.
        if pairs.len() > MAX_PARAMETERS {
            return Err(Refused::request(format!(
                "a token request has at most {MAX_PARAMETERS} parameters"
            )));
        }
        // RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
        let pairs: Vec<(String, String)> =
            pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        let mut seen = std::collections::HashSet::new();
        if pairs.iter().any(|(name, _)| !seen.insert(name.as_str())) {
            return Err(Refused::request("a parameter is sent more than once"));
        }
        Ok(Self(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn credentials(req: &HttpRequest, form: &Form) -> Result<Credentials, Refused> {
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|value| basic_credentials(value.as_bytes()))
        .transpose()?;
    let assertion_type = form.get("client_assertion_type");
    let assertion = form.get("client_assertion");
    let posted_secret = form.get("client_secret");
    let methods = usize::from(basic.is_some())
        + usize::from(assertion.is_some() || assertion_type.is_some())
        + usize::from(posted_secret.is_some());
    if methods > 1 {
        return Err(Refused::request(
            "use one way of authenticating the client, not several",
        ));
    }
    if let Some((client_id, secret)) = basic {
        return Ok(Credentials::Secret {
            client_id,
            secret,
            basic: true,
        });
    }
    if assertion.is_some() || assertion_type.is_some() {
        if assertion_type != Some(JWT_BEARER) {
            return Err(Refused::request(format!(
                "client_assertion_type must be {JWT_BEARER}"
            )));
        }
        let assertion = assertion
            .ok_or_else(|| Refused::request("client_assertion is missing"))?
            .to_owned();
        return Ok(Credentials::Assertion {
            client_id: form.get("client_id").map(str::to_owned),
            assertion,
        });
    }
    match (form.get("client_id"), posted_secret) {
        (Some(client_id), Some(secret)) => Ok(Credentials::Secret {
            client_id: client_id.to_owned(),
            secret: secret.to_owned(),
            basic: false,
        }),
        _ => Err(Refused::client(
            "authenticate the client: client_secret_basic, client_secret_post or private_key_jwt",
            false,
        )),
    }
}

/// `Authorization: Basic` with the form-encoded client id and secret (RFC 6749 §2.3.1).
fn basic_credentials(value: &[u8]) -> Result<(String, String), Refused> {
    let bad = || {
        Refused::client(
            "the Authorization header must be Basic client_id:client_secret",
            true,
        )
    };
    let text = std::str::from_utf8(value).map_err(|_| bad())?;
    let (scheme, encoded) = text.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let unescape = |part: &str| {
        form_urlencoded::parse(format!("v={part}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .ok_or_else(bad)
    };
    Ok((unescape(id)?, unescape(secret)?))
}

/// The `iss` an assertion claims, read before its signature is checked, to find the keys.
fn claimed_issuer(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

/// Get a token for a registered system.
///
/// OAuth 2 client credentials, form-encoded (`grant_type=client_credentials`). Authenticate
/// with `client_id` and `client_secret` in the form or in `Authorization: Basic`, or with
/// `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and a
/// `client_assertion` signed (RS256, RS384, ES256, ES384) by a key of the system's registered
/// JWKS, whose `iss` and `sub` are the `client_id`, `aud` this endpoint's URL, `exp` at most
/// five minutes ahead and `jti` never used before. Answers a short-lived bearer token; errors
/// follow RFC 6749 §5.2. Open to anyone, rate limited per client address.
#[utoipa::path(
    operation_id = "create_token",
    tag = "auth",
    request_body(content_type = "application/x-www-form-urlencoded", content = Object,
        description = "grant_type=client_credentials, and the client's credentials"),
    responses(
        (status = 200, description = "A token", body = TokenResponse),
        (status = 400, description = "invalid_request, unsupported_grant_type", body = TokenError),
        (status = 401, description = "invalid_client", body = TokenError),
        (status = 413, description = "Request body over 64 KiB", body = crate::error::Problem),
        (status = 415, description = "A Content-Encoding the server does not decode", body = crate::error::Problem),
        (status = 429, description = "Too many requests from this address, or too many client secrets being checked at once", body = crate::error::Problem),
        (status = 503, description = "Database unavailable or too slow", body = crate::error::Problem),
    ),
    // `client_secret_basic`; `client_secret_post` and `private_key_jwt` carry the credentials
    // in the form, which no security scheme describes.
    security(("client_basic" = []), ()),
)]
#[post("/auth/token")]
pub async fn create_token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let address = state
        .public
        .client(&req)
        .ok_or_else(|| ApiError::Internal("no peer address".into()))?;
    state.public.admit(&req, "create_token", address)?;
    let mut seen = Seen::default();
    let answer = answer(&req, payload, &state, &mut seen).await;
    record(&req, &state, address, seen, &answer).await?;
    match answer? {
        Ok(token) => {
            let mut response = HttpResponse::Ok();
            no_store(&mut response);
            Ok(response.json(token))
        }
        Err(refused) => Ok(refused.into_response(&req)),
    }
}

/// The registered system a token request named, once looked up: for its audit row.
#[derive(Debug, Default)]
struct Seen(Option<ApiClient>);

/// A token, a refusal in RFC 6749's terms, or another error.
type Answer = Result<Result<TokenResponse, Refused>, ApiError>;

async fn answer(
    req: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<AppState>,
    seen: &mut Seen,
) -> Answer {
    let form_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    extract::check_encoding(req)?;
    let body = extract::read_body(req, &mut payload.into_inner()).await?;
    if !form_type {
        return Ok(Err(Refused::request(
            "send the request as application/x-www-form-urlencoded",
        )));
    }
    issue(req, &body, state, seen).await
}

/// Writes the request's one audit row: the token issued, or the attempt refused. The actor is
/// the system when one was named and found (its `client_id`, role and organisation), else the
/// address it came from; neither secrets nor assertions are written.
async fn record(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    address: std::net::IpAddr,
    seen: Seen,
    answer: &Answer,
) -> Result<(), ApiError> {
    use actix_web::ResponseError;
    let outcome = match answer {
        Ok(Ok(_)) => Outcome::Success,
        Ok(Err(refused)) if refused.error == "invalid_client" => Outcome::Forbidden,
        Ok(Err(_)) => Outcome::Rejected,
        // The database is down or failing: no row could be written either.
        Err(e) if e.status_code().is_server_error() => return Ok(()),
        Err(_) => Outcome::Rejected,
    };
    let request_id = req
        .extensions()
        .get::<crate::middleware::RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let operation = <access::CreateToken as access::Guarded>::OPERATION;
    let sink = crate::audit_writer::Sink::of(req)?;
    let mut actor = Actor::anonymous(format!("anonymous@{address}"), request_id, operation, sink);
    if let Some(client) = seen.0 {
        actor.caller = Caller {
            sub: client.client_id,
            role: client.role,
            org: client.org_id,
        };
        actor.anonymous = false;
    }
    db::run(state, move |conn| actor.record_alone(conn, None, outcome)).await
}

async fn issue(
    req: &HttpRequest,
    body: &[u8],
    state: &web::Data<AppState>,
    seen: &mut Seen,
) -> Answer {
    let form = match Form::parse(body) {
        Ok(form) => form,
        Err(refused) => return Ok(Err(refused)),
    };
    match form.get("grant_type") {
        Some("client_credentials") => {}
        Some(_) => {
            return Ok(Err(Refused {
                error: "unsupported_grant_type",
                description: "only client_credentials is supported".into(),
                basic: false,
            }));
        }
        None => return Ok(Err(Refused::request("grant_type is missing"))),
    }
    let credentials = match credentials(req, &form) {
        Ok(c) => c,
        Err(refused) => return Ok(Err(refused)),
    };
    let authenticated = match credentials {
        Credentials::Secret {
            client_id,
            secret,
            basic,
        } => with_secret(state, client_id, secret, basic, seen).await?,
        Credentials::Assertion {
            client_id,
            assertion,
        } => with_assertion(state, client_id, assertion, seen).await?,
    };
    let client = match authenticated {
        Ok(client) => client,
        Err(refused) => return Ok(Err(refused)),
    };
    let ttl = state.client_token_seconds;
    let access_token =
        state
            .tokens
            .issue(client.role, &client.id.to_string(), client.org_id, ttl)?;
    log::info!(
        "issued a token to system {} ({})",
        client.client_id,
        client.role
    );
    Ok(Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl,
    }))
}

/// One refusal for an unknown system, a revoked one, a wrong secret or a method the system was
/// not registered for: which it was is not the caller's to learn.
fn unknown(basic: bool) -> Refused {
    Refused::client(client_keys::NOT_VERIFIED, basic)
}

/// The system `client_id` names, unless revoked; what was found, revoked or not, is `seen`.
async fn find(
    state: &web::Data<AppState>,
    client_id: String,
    seen: &mut Seen,
) -> Result<Option<ApiClient>, ApiError> {
    if client_id.is_empty() || client_id.len() > 255 {
        return Ok(None);
    }
    let found = db::run(state, move |conn| {
        Ok(api_clients::find_by_client_id(conn, &client_id)?)
    })
    .await?;
    seen.0.clone_from(&found);
    Ok(found.filter(|c| !c.is_revoked()))
}

async fn with_secret(
    state: &web::Data<AppState>,
    client_id: String,
    secret: String,
    basic: bool,
    seen: &mut Seen,
) -> Result<Result<ApiClient, Refused>, ApiError> {
    // Before the client is looked up: the refusal is the same for every client id.
    let permit = state
        .secret_checks
        .try_start()
        .ok_or(ApiError::RateLimited {
            retry_after: 1,
            scope: crate::error::Limited::SecretChecks,
        })?;
    let client = find(state, client_id, seen).await?;
    // An unknown client, or one without a secret, is checked against a decoy hash: refusing
    // it takes as long as refusing a wrong secret, so timing does not tell which it was.
    let hash = match client.as_ref().map(|c| &c.credential) {
        Some(ClientCredential::SecretHash(hash)) => Some(hash.clone()),
        _ => None,
    };
    let real = hash.is_some();
    let hash = hash.unwrap_or_else(|| client_keys::decoy_hash().to_owned());
    // argon2 takes tens of milliseconds of CPU: off the async workers.
    let matches = web::block(move || {
        let _permit = permit;
        client_keys::secret_matches(&hash, &secret)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("checking a client secret: {e}")))?;
    Ok(match client {
        Some(client) if real && matches => Ok(client),
        _ => Err(unknown(basic)),
    })
}

async fn with_assertion(
    state: &web::Data<AppState>,
    client_id: Option<String>,
    assertion: String,
    seen: &mut Seen,
) -> Result<Result<ApiClient, Refused>, ApiError> {
    let refuse = |why: &str| Ok(Err(Refused::client(why.to_owned(), false)));
    let Some(issuer) = claimed_issuer(&assertion) else {
        return refuse("the assertion is malformed");
    };
    if client_id.as_deref().is_some_and(|id| id != issuer) {
        return refuse("client_id and the assertion's iss differ");
    }
    let Some(client) = find(state, issuer, seen).await? else {
        return Ok(Err(unknown(false)));
    };
    let ClientCredential::Jwks(jwks) = &client.credential else {
        return Ok(Err(unknown(false)));
    };
    let keys = ClientJwks::stored(jwks)?;
    let now = clock::now().timestamp();
    let checked = client_keys::check_assertion(
        &keys,
        &assertion,
        &client.client_id,
        &state.token_endpoint,
        now,
        MAX_ASSERTION_SECONDS,
    );
    let accepted = match checked {
        Ok(accepted) => accepted,
        Err(why) => return refuse(why),
    };
    let key = client.client_id.clone();
    // Kept until the assertion could no longer verify even with the clock-skew leeway (and a
    // minute more for instances whose clocks differ): pruned at `exp`, it could be replayed
    // within the leeway.
    let kept_until = accepted
        .exp
        .saturating_add(crate::auth::LEEWAY_SECONDS as i64 + 60);
    let expires = chrono::DateTime::from_timestamp(kept_until, 0).unwrap_or_else(clock::now);
    let first_use = db::run(state, move |conn| {
        Ok(api_clients::use_assertion_once(
            conn,
            &key,
            &accepted.jti,
            expires,
            clock::now(),
        )?)
    })
    .await?;
    if !first_use {
        return refuse("the assertion was used before: sign a new one with a fresh jti");
    }
    Ok(Ok(client))
}
