//! The OpenAPI 3.1 document, built from the mounted routes and annotated with each
//! operation's roles from the access table. `openapi.yaml` at the repository root is this
//! document; a test fails when they differ.

use actix_web::App;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, PathItem, Ref, RefOr};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::error::{FieldError, Problem};
use crate::routes;
use crate::schema;
use crate::{access, bounds, cors};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Linkwell API",
        description = "An open, API-first backend for social prescribing: referrals, link-worker \
            sessions, wellbeing plans, connections to community partners and outcomes. Errors \
            are RFC 9457 problem details. Authenticate with `Authorization: Bearer <JWT>`; each \
            operation lists the roles allowed in its description and in `x-roles`. Each caller \
            has an allowance of requests a minute (without a token, each address per public \
            operation): answers carry `RateLimit-Policy` and `RateLimit` \
            (draft-ietf-httpapi-ratelimit-headers), and an overrun is 429 with `Retry-After`.",
        license(name = "AGPL-3.0-or-later", identifier = "AGPL-3.0-or-later"),
    ),
    tags(
        (name = "referrals", description = "People referred to the service"),
        (name = "organisations", description = "GP practices, partners, agencies, community groups, and the networks they belong to"),
        (name = "sessions", description = "Link workers' contacts with the people referred"),
        (name = "group-sessions", description = "Group work: a session recorded once, with its facilitators and the people booked on it; and community development work"),
        (name = "plans", description = "Wellbeing plans around what matters to the person, and their goals"),
        (name = "directory", description = "Community groups, activities and support services people are connected to; open to read"),
        (name = "connections", description = "Onward referrals to partners and directory services; partners see only their own"),
        (name = "outcomes", description = "Wellbeing measures (SWEMWBS, ONS4), scored by the server"),
        (name = "reports", description = "Figures for commissioners and the service, computed in the database"),
        (name = "people", description = "The people referred: one record each, duplicates resolved by staff"),
        (name = "users", description = "Link workers, administrators and organisations' users"),
        (name = "teams", description = "Teams within the service: link workers belong to them, and each referral is owned by one"),
        (name = "audit", description = "The append-only trail of every access to personal data, and every refusal"),
        (name = "auth", description = "Tokens for registered systems (OAuth 2 client credentials)"),
        (name = "api-clients", description = "Systems that call the API on their own: GP systems, partners' case systems (OAuth 2 client credentials)"),
        (name = "health", description = "Liveness and readiness probes"),
        (name = "keys", description = "The public keys that verify Linkwell's tokens (JWKS), for other services"),
    ),
    components(schemas(Problem, FieldError, crate::fields::SearchWords, crate::schema::NeedCode)),
)]
struct ApiDoc;

/// The bearer JWT scheme, and HTTP Basic for systems' own credentials at the token endpoint.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "ES256 JWT signed by Linkwell (`linkwell token`), its key named by \
                         `kid`; the public keys are at `/.well-known/jwks.json`. Verified as \
                         RFC8725 (JWT best current practices) asks: the algorithm is fixed to \
                         ES256 whatever the header says (never `none`), the key must be one of \
                         the server's own, and the lifetime and claims are checked.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "client_basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "A registered system's `client_id` and `client_secret` \
                         (`client_secret_basic`, RFC 6749 §2.3.1), at the token endpoint only.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Writes each operation's roles into its description and an `x-roles` extension.
struct Roles;

impl Modify for Roles {
    fn modify(&self, openapi: &mut Document) {
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                let Some(entry) = operation.operation_id.as_deref().and_then(access::find) else {
                    continue;
                };
                let roles: Vec<&str> = entry.roles.iter().map(|r| r.as_str()).collect();
                let takes_token = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                let line = if entry.is_public() && takes_token {
                    "**Roles:** anyone: without a token rate limited per client address and operation; with a token (it must be valid), the caller's own allowance applies."
                        .to_owned()
                } else if entry.is_public() {
                    "**Roles:** anyone, rate limited per client address.".to_owned()
                } else {
                    format!("**Roles:** {}.", roles.join(", "))
                };
                operation.description = Some(match operation.description.take() {
                    Some(text) if !text.is_empty() => format!("{text}\n\n{line}"),
                    _ => line,
                });
                let extension = ExtensionsBuilder::new()
                    .add("x-roles", serde_json::json!(roles))
                    .build();
                match operation.extensions.as_mut() {
                    Some(existing) => existing.merge(extension),
                    None => operation.extensions = Some(extension),
                }
            }
        }
    }
}

/// What every operation can answer beyond its own responses: 500, 401 where a token is
/// read, and, where an allowance is spent (every operation in the access table), 429 and the
/// `RateLimit` fields on every 2xx and 4xx (a refused token spends the client address's
/// allowance, see `access`). Every answer may carry `Access-Control-Allow-Origin` (`cors`), and
/// the response headers the server writes get their bounded schemas (`schema::response_header`).
/// The health probes and the key set are in no table and limited by nothing.
struct Responses;

impl Modify for Responses {
    fn modify(&self, openapi: &mut Document) {
        // Declared once under components, referred to from each answer.
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, header) in schema::shared_headers() {
            components.headers.insert(name.to_owned(), RefOr::T(header));
        }
        let shared = |name: &str| RefOr::Ref(Ref::new(format!("#/components/headers/{name}")));
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                let limited = operation
                    .operation_id
                    .as_deref()
                    .and_then(access::find)
                    .is_some();
                let takes_token = operation.security.iter().flatten().any(|requirement| {
                    serde_json::to_value(requirement)
                        .is_ok_and(|value| value.get("bearer").is_some())
                });
                let responses = &mut operation.responses.responses;
                responses
                    .entry("500".to_owned())
                    .or_insert_with(schema::internal_error);
                if takes_token {
                    responses
                        .entry("401".to_owned())
                        .or_insert_with(schema::unauthorized);
                }
                if limited {
                    responses
                        .entry("429".to_owned())
                        .or_insert_with(schema::rate_limited);
                }
                for (status, response) in responses.iter_mut() {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    for (name, header) in response.headers.iter_mut() {
                        if let (RefOr::T(header), Some(bounded)) =
                            (header, schema::response_header(name))
                        {
                            header.schema = Some(bounded.into());
                        }
                    }
                    if status == "429" && !response.headers.contains_key("Retry-After") {
                        response
                            .headers
                            .insert("Retry-After".to_owned(), shared("Retry-After"));
                    }
                    if limited && (status.starts_with('2') || status.starts_with('4')) {
                        for name in schema::RATE_LIMIT_HEADERS {
                            response.headers.insert(name.to_owned(), shared(name));
                        }
                    }
                    response
                        .headers
                        .insert(cors::ALLOW_ORIGIN.to_owned(), shared(cors::ALLOW_ORIGIN));
                }
            }
        }
    }
}

pub(crate) fn operations(
    item: &mut PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// The whole document.
pub fn document() -> Document {
    let (_, mut doc) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes::configure)
        .split_for_parts();
    // Applied here, not as derive modifiers: those run before the routes' operations exist.
    fill_generated(&mut doc);
    Security.modify(&mut doc);
    Roles.modify(&mut doc);
    Responses.modify(&mut doc);
    bounds::apply(&mut doc);
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// Text generated from the domain's tables, and the placeholder in a handler's doc comment
/// that it replaces: the contract then states the rules the code enforces.
fn generated_text() -> [(&'static str, String); 2] {
    use linkwell_domain::lifecycle;
    [
        ("{lifecycle.moves}", lifecycle::moves_in_words()),
        ("{lifecycle.reasons}", lifecycle::reasons_in_words()),
    ]
}

fn fill_generated(doc: &mut Document) {
    let generated = generated_text();
    for item in doc.paths.paths.values_mut() {
        for operation in operations(item) {
            if let Some(text) = operation.description.as_mut() {
                for (placeholder, words) in &generated {
                    if text.contains(placeholder) {
                        *text = text.replace(placeholder, words);
                    }
                }
            }
        }
    }
}

/// The document as YAML, as published in `openapi.yaml`.
pub fn yaml() -> Result<String, String> {
    document().to_yaml().map_err(|e| e.to_string())
}
