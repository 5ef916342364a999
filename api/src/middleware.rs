//! The one middleware every request passes: request id, CORS (`cors`), error bodies, security
//! and rate-limit headers, access log. Finishing every error here is what makes *all* of them
//! problem+json, including those the framework produces before a handler runs.
//!
//! What never reaches this middleware: actix-http's h1 dispatcher answers some requests
//! itself before any service runs (400 for a head it cannot parse, such as Content-Length
//! beside Transfer-Encoding; 431 past its 128 KiB head buffer or 96 header fields; 408 for a
//! head not complete within the head timeout). Those are given problem bodies on their way to
//! the socket, by `connection_errors`.
//!
//! Below those limits the app answers itself, as problem details: 414 for a request target
//! over [`URI_LIMIT_BYTES`], 431 for header fields over [`HEADERS_LIMIT_BYTES`], and 408 for a
//! body that stalls (`extract::read_body`).

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{ConnectionType, Method};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, web};

use crate::audit_writer::Receipts;
use crate::error::{ApiError, PROBLEM_JSON, problem_for_status};
use crate::params::ParameterBounds;
use crate::state::AppState;

/// The id of the request being served: the caller's `X-Request-Id` if it is sane, else new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Accepts a caller's id only if it is short and plain, so it is safe in logs and headers.
fn caller_request_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(&REQUEST_ID)?.to_str().ok()?;
    let plain = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    plain.then(|| value.to_owned())
}

/// Wraps every request.
pub async fn request_context(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let request_id = caller_request_id(&req).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let receipts = Receipts::default();
    req.extensions_mut().insert(receipts.clone());
    let method = req.method().clone();
    // HEAD is GET without a body (RFC 9110 §9.3.2): route it as GET. The connection already
    // knows the request was HEAD and sends the headers only.
    if method == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    let is_docs = req.path().starts_with("/docs");
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let origin = req.headers().get(header::ORIGIN).cloned();
    let key_set = req.path() == crate::routes::keys::PATH;

    // Heads too big to serve are refused here, as problem details; only those beyond what
    // actix-http buffers at all (128 KiB, or more than 96 header fields) get its bare 431.
    let oversized = oversized(&req);
    // Parameters past the bounds the contract documents (`params`).
    let out_of_bounds = req
        .app_data::<web::Data<ParameterBounds>>()
        .and_then(|bounds| bounds.check(&req));
    // A CORS preflight is answered here, never routed: it carries no token and spends no
    // allowance.
    let preflight = state
        .as_ref()
        .and_then(|state| state.cors.preflight(req.method(), req.headers()));

    // Handlers and extractors turn their errors into responses inside routing, so an `Err`
    // here would come from a layer below that failed outright; it cannot be re-bodied (the
    // request is gone), only logged.
    let refusal = oversized
        .or(out_of_bounds)
        .or((preflight == Some(false)).then_some(ApiError::OriginNotAllowed));
    let answers_preflight = refusal.is_none() && preflight == Some(true);
    let response = match (refusal, preflight) {
        (Some(error), _) => Ok(ServiceResponse::new(
            req.into_parts().0,
            HttpResponse::from_error(error),
        )),
        (None, Some(true)) => {
            let mut answer = HttpResponse::NoContent().finish();
            if let (Some(state), Some(origin)) = (&state, &origin) {
                state.cors.write_preflight(origin, answer.headers_mut());
            }
            Ok(ServiceResponse::new(req.into_parts().0, answer))
        }
        (None, _) => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body),
    };
    let response = match response {
        Ok(response) => response,
        Err(error) => {
            log::error!("{method} failed below routing id={request_id}: {error}");
            return Err(error);
        }
    };
    // Nothing leaves before the audit rows of what it discloses have committed.
    let response = match receipts.committed().await {
        Ok(()) => response,
        Err(error) => {
            let (request, _) = response.into_parts();
            ServiceResponse::new(request, HttpResponse::from_error(error))
        }
    };
    let mut response = finish_error(response, &request_id);

    // Only the public key set may be cached (verifiers fetch it often); an error answered
    // on that path still is not.
    let cacheable = key_set && response.status().is_success();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert(REQUEST_ID, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !is_docs && !cacheable {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some(state) = &state {
        // Errors too, so a script on an allowed origin can read the problem.
        if !answers_preflight {
            state.cors.write_actual(origin.as_ref(), headers);
        }
    }
    let request = response.request().clone();
    crate::ratelimit::write_standing(&request, response.headers_mut());

    let status = response.status();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    // Log the route's pattern (`/v1/referrals/{id}`), never the path or query as sent: a
    // client may put personal data in either.
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "<unmatched>".to_owned());
    let line = format!(
        "{method} {route} {} {elapsed_ms:.1}ms id={request_id}",
        status.as_u16()
    );
    if status.is_server_error() {
        log::error!("{line}");
    } else {
        log::info!("{line}");
    }
    Ok(response)
}

/// The longest request target served (RFC 9110 §4.1 asks for at least 8,000 octets).
pub const URI_LIMIT_BYTES: usize = 8 * 1024;
/// The most header bytes (names and values) served.
pub const HEADERS_LIMIT_BYTES: usize = 16 * 1024;

/// 414 for a request target past [`URI_LIMIT_BYTES`], 431 for header fields past
/// [`HEADERS_LIMIT_BYTES`].
fn oversized(req: &ServiceRequest) -> Option<ApiError> {
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > URI_LIMIT_BYTES {
        return Some(ApiError::UriTooLong {
            limit: URI_LIMIT_BYTES,
        });
    }
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    (headers > HEADERS_LIMIT_BYTES).then_some(ApiError::HeadersTooLarge {
        limit: HEADERS_LIMIT_BYTES,
    })
}

/// Marks an error response whose body a standard fixes (the token endpoint's RFC 6749 errors,
/// which carry the problem members too): [`finish_error`] leaves it as it is.
#[derive(Debug, Clone, Copy)]
pub struct StandardErrorBody;

/// Gives every 4xx/5xx a problem+json body with `instance` set to the request id.
fn finish_error(response: ServiceResponse<BoxBody>, request_id: &str) -> ServiceResponse<BoxBody> {
    let status = response.status();
    if !status.is_client_error() && !status.is_server_error() {
        return response;
    }
    if response
        .response()
        .extensions()
        .get::<StandardErrorBody>()
        .is_some()
    {
        return response;
    }
    let instance = Some(request_id.to_owned());
    let api_error = response
        .response()
        .error()
        .and_then(|e| e.as_error::<ApiError>());
    if let Some(ApiError::Internal(cause)) = api_error {
        log::error!("internal error id={request_id}: {cause}");
    }
    let body = match api_error {
        Some(error) => error.problem(instance),
        None => {
            if let Some(error) = response.response().error() {
                log::debug!("framework error id={request_id}: {error}");
            }
            problem_for_status(status, instance)
        }
    };
    let (request, old) = response.into_parts();
    let mut fresh = HttpResponse::build(status);
    // Keep the challenge, Allow and Retry-After headers the error set; replace the body.
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fresh.append_header((name.clone(), value.clone()));
        }
    }
    fresh.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
    if old.head().connection_type() == ConnectionType::Close {
        fresh.force_close();
    }
    let fresh = fresh.body(serde_json::to_string(&body).unwrap_or_default());
    ServiceResponse::new(request, fresh)
}
