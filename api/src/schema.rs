//! OpenAPI schemas for things the derive cannot see: the domain's code lists (the domain crate
//! stays free of utoipa) and the problem responses each operation can return.

use std::borrow::Cow;
use std::collections::BTreeMap;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoResponses, PartialSchema, ToSchema};

use crate::error::PROBLEM_JSON;

/// Makes a code list's schema type a request member too: it holds the code as sent (so an
/// unknown one is a field error, 422 `unknown_code` listing the codes, not a type error) and
/// parses it with the domain's own `FromStr`. `kind: schema::SessionKind` in a request type
/// validated by `rules::field` then has one definition for its contract and its parsing.
macro_rules! code_field {
    ($name:ident => $domain:ty) => {
        impl crate::fields::Field for $name {
            type Value = $domain;
            fn parse(&self) -> Result<$domain, linkwell_domain::Invalid> {
                self.0.parse().map_err(linkwell_domain::Invalid::from)
            }
        }
    };
}

/// Declares a type for a domain code list: its schema, a string enum named like the list, and
/// a request member of that list ([`code_field`]).
macro_rules! code_schema {
    ($($name:ident => $domain:ty, $doc:literal;)+) => {
        $(
            #[doc = $doc]
            #[derive(Debug, serde::Deserialize, serde::Serialize)]
            #[serde(transparent)]
            pub struct $name(String);

            impl PartialSchema for $name {
                fn schema() -> RefOr<Schema> {
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(<$domain>::CODES.iter().copied()))
                        .description(Some($doc))
                        .into()
                }
            }

            impl ToSchema for $name {
                fn name() -> Cow<'static, str> {
                    Cow::Borrowed(stringify!($name))
                }
            }

            code_field!($name => $domain);
        )+
    };
}

code_schema! {
    ReferralSource => linkwell_domain::ReferralSource,
        "How the person came to the service.";
    Reason => linkwell_domain::Reason,
        "A non-medical need behind a referral.";
    Need => linkwell_domain::Need,
        "A specific need, under one reason (`GET /v1/needs`).";
    ReferralStatus => linkwell_domain::ReferralStatus,
        "Where a referral is in its lifecycle.";
    PreferredContact => linkwell_domain::PreferredContact,
        "How the person would like to be contacted.";
    OrganisationKind => linkwell_domain::OrganisationKind,
        "What kind of organisation this is.";
    SessionKind => linkwell_domain::SessionKind,
        "What kind of contact a session was.";
    SessionMode => linkwell_domain::SessionMode,
        "How a session took place.";
    SessionStatus => linkwell_domain::SessionStatus,
        "Whether a session happened.";
    GoalStatus => linkwell_domain::GoalStatus,
        "Where a goal in a wellbeing plan stands.";
    GroupSessionKind => linkwell_domain::GroupSessionKind,
        "What kind of group a group session is.";
    GroupSessionStatus => linkwell_domain::GroupSessionStatus,
        "Whether a group session happened: `scheduled` moves once, to `held` or `cancelled`.";
    CommunityActivity => linkwell_domain::community_work::CommunityActivity,
        "What community development work was spent on.";
    Weekday => linkwell_domain::opening_hours::Weekday,
        "A day of the week.";
    Attendance => linkwell_domain::Attendance,
        "Whether a person booked on a group session came.";
    ServiceStatus => linkwell_domain::ServiceStatus,
        "Whether a directory service is running.";
    Capacity => linkwell_domain::Capacity,
        "Whether a directory service can take people now.";
    ConnectionStatus => linkwell_domain::ConnectionStatus,
        "Where a connection to a partner or service stands.";
    SharedField => linkwell_domain::SharedField,
        "A detail of the person they agreed to share with the receiving organisation.";
    Instrument => linkwell_domain::outcome::Instrument,
        "A wellbeing measure: SWEMWBS or ONS4.";
    Timepoint => linkwell_domain::outcome::Timepoint,
        "When in the person's time with the service a measure was taken.";
    OutcomeStatus => linkwell_domain::outcome::MeasureStatus,
        "A measure's state: `entered_in_error` counts nowhere.";
    Band => linkwell_domain::outcome::Band,
        "An ONS4 band (anxiety runs very_low to high, the others low to very_high).";
    ClosureReason => linkwell_domain::ClosureReason,
        "Why a referral was closed: given only when closing a referral, and always then.";
    ConsentStatus => linkwell_domain::consent::ConsentStatus,
        "What the person said: consent given, or withdrawn.";
    ConsentScope => linkwell_domain::consent::ConsentScope,
        "What a consent is for. `sharing_with_partners`: sharing the person's details with partner organisations through connections.";
    HistoryKind => linkwell_domain::team::HistoryKind,
        "What an entry of a referral's history records: `status`, a change of status; `team`, a move to another team (a handover).";
    Role => linkwell_domain::Role,
        "A caller's role.";
    DuplicateReason => linkwell_domain::DuplicateReason,
        "Why a person's record may stand for the same human as another: `similar_name_and_date_of_birth`; `nhs_number_demographics_differ` (the other record holds the same NHS number but a different family name or date of birth: no connection is made until staff merge the two or correct a number and dismiss the flag); `same_nhs_number` (two records of one human from before one record per NHS number was enforced: merge them).";
}

/// The kind of a person's own session, as a request gives it: never `group`, which is
/// recorded once at `/v1/group-sessions` (422 `group_session`).
#[derive(Debug, serde::Deserialize, serde::Serialize)]
#[serde(transparent)]
pub struct OneToOneKind(String);

impl PartialSchema for OneToOneKind {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(
                linkwell_domain::SessionKind::ONE_TO_ONE
                    .iter()
                    .map(|k| k.as_str()),
            ))
            .description(Some(
                "What kind of contact a person's own session was. A group is recorded once at \
                 `/v1/group-sessions`, with a place per person (`group` here is 422 \
                 `group_session`).",
            ))
            .into()
    }
}

impl ToSchema for OneToOneKind {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("OneToOneKind")
    }
}

impl crate::fields::Field for OneToOneKind {
    type Value = linkwell_domain::SessionKind;
    fn parse(&self) -> Result<Self::Value, linkwell_domain::Invalid> {
        self.0
            .parse::<linkwell_domain::SessionKind>()
            .map_err(linkwell_domain::Invalid::from)?
            .one_to_one()
    }
}

/// The roles a registered system may act as (never `admin`).
#[derive(Debug)]
pub struct SystemRole;

impl PartialSchema for SystemRole {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(
                linkwell_domain::api_client::ROLES
                    .iter()
                    .map(|r| r.as_str()),
            ))
            .description(Some(
                "The role a registered system acts as (never `admin`).",
            ))
            .into()
    }
}

impl ToSchema for SystemRole {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("SystemRole")
    }
}

/// Each move's vocabulary, as a sentence per move that has one: "`rejected`: a, b; …".
fn vocabularies<T: std::fmt::Display>(
    of: fn(linkwell_domain::ConnectionStatus) -> &'static [T],
) -> String {
    linkwell_domain::ConnectionStatus::ALL
        .iter()
        .filter(|status| !of(**status).is_empty())
        .map(|status| {
            let codes: Vec<String> = of(*status).iter().map(ToString::to_string).collect();
            format!("`{status}`: {}", codes.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Declares a schema for a connection code list whose values belong to particular moves.
macro_rules! move_codes {
    ($name:ident => $domain:ty, $of:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, serde::Deserialize, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(<$domain>::CODES.iter().copied()))
                    .description(Some(format!(
                        "{} Each move takes only its own: {}. Any other is 422.",
                        $doc,
                        vocabularies($of)
                    )))
                    .into()
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }

        code_field!($name => $domain);
    };
}

move_codes!(
    ConnectionReasonCode => linkwell_domain::ConnectionReasonCode,
    linkwell_domain::ConnectionStatus::reason_codes,
    "Why a connection moved."
);
move_codes!(
    ConnectionOutcome => linkwell_domain::ConnectionOutcome,
    linkwell_domain::ConnectionStatus::outcomes,
    "How a connection ended (completed or failed)."
);

/// `consent_to_share`: a boolean that must be `true`.
pub fn must_be_true() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .enum_values(Some([true]))
        .description(Some(
            "Must be `true`: the person agreed to their details being shared with the service.",
        ))
}

/// `duration_minutes`: whole minutes, 1 to the domain's maximum, or `null`.
pub fn duration() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::Integer,
            Type::Null,
        ]))
        .minimum(Some(1))
        .maximum(Some(linkwell_domain::session::MAX_DURATION_MINUTES))
        .description(Some(
            "Whole minutes; required once the session is attended.",
        ))
}

/// `min_age`: whole years, 0 to the domain's maximum, or `null`.
pub fn min_age() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::Integer,
            Type::Null,
        ]))
        .minimum(Some(0))
        .maximum(Some(linkwell_domain::directory::MAX_MIN_AGE))
        .description(Some("The youngest age served, in whole years."))
}

/// `max_age`: the oldest age a service takes.
pub fn max_age() -> ObjectBuilder {
    min_age().description(Some(
        "The oldest age served, in whole years; not below `min_age`.",
    ))
}

/// `shared_fields`: distinct shared-field codes; empty shares nothing.
pub fn shared_field_set() -> ArrayBuilder {
    ArrayBuilder::new()
        .items(Ref::from_schema_name("SharedField"))
        .max_items(Some(linkwell_domain::SharedField::ALL.len()))
        .unique_items(true)
        .description(Some(
            "The person's details they agreed to share with the receiving organisation, each at most once; `wellbeing_plan` shares their wellbeing plan (read at `/connections/{id}/plan`) while the connection is open.",
        ))
}

/// `facilitators`: the link workers who run a group session.
pub fn facilitators() -> ArrayBuilder {
    ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::String).format(Some(
            utoipa::openapi::schema::SchemaFormat::KnownFormat(
                utoipa::openapi::schema::KnownFormat::Uuid,
            ),
        )))
        .min_items(Some(1))
        .max_items(Some(linkwell_domain::group_session::MAX_FACILITATORS))
        .unique_items(true)
        .description(Some(
            "The link workers who run it (active coordinators' user ids), each once.",
        ))
}

/// `answers`: seven SWEMWBS answers (1–5, item order) or the four ONS4 items (0–10).
pub fn answers() -> utoipa::openapi::schema::OneOfBuilder {
    utoipa::openapi::schema::OneOfBuilder::new()
        .item(
            ArrayBuilder::new()
                .items(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1))
                        .maximum(Some(5)),
                )
                .min_items(Some(7))
                .max_items(Some(7))
                .description(Some(
                    "SWEMWBS: exactly seven answers in item order, each 1 (none of the time) to 5 (all of the time).",
                )),
        )
        .item({
            let item = || {
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0))
                    .maximum(Some(10))
            };
            let mut object = ObjectBuilder::new()
                .schema_type(Type::Object)
                .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::FreeForm(false)))
                .description(Some("ONS4: each item 0 to 10."));
            for name in linkwell_domain::outcome::ONS4_ITEMS {
                object = object.property(name, item()).required(name);
            }
            object
        })
}

/// `reasons` on a new referral: one to eleven distinct reason codes.
pub fn reason_set() -> ArrayBuilder {
    ArrayBuilder::new()
        .items(Ref::from_schema_name("NeedCode"))
        .min_items(Some(1))
        .max_items(Some(linkwell_domain::NeedCode::codes().len()))
        .unique_items(true)
        .description(Some(
            "At least one, each at most once: reasons, or specific needs (`GET /v1/needs`), each of which brings its reason.",
        ))
}

/// A code of either level: a reason or a specific need under one.
#[derive(Debug)]
pub struct NeedCode;

impl PartialSchema for NeedCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(linkwell_domain::NeedCode::codes().iter().copied()))
            .description(Some(
                "A reason (the first level) or a specific need under one (the second; `GET /v1/needs`).",
            ))
            .into()
    }
}

impl ToSchema for NeedCode {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("NeedCode")
    }
}

/// What each error status means, for the response descriptions. `body` says whether the
/// operation reads a JSON body (which changes what a 400 can be).
fn describe(status: u16, body: bool) -> &'static str {
    match status {
        400 if body => "Malformed JSON, or a bad header",
        400 => "A bad query parameter, path parameter or cursor",
        401 => "Missing, invalid or expired bearer token",
        403 => "The caller's role may not perform this operation",
        404 => "No such resource, or the caller may not see it",
        410 => "The resource was ended on purpose (for a system, revoked); `detail` says when",
        409 => "Conflicts with existing data or the resource's current state",
        412 => "If-Match names a version that is no longer current",
        428 => "If-Match is required",
        406 => "Accept rules out every representation offered",
        429 => {
            "Too many requests: the caller's allowance is spent (without a token, the client address's for this operation); `Retry-After` says when to try again"
        }
        413 => "Request body over 64 KiB",
        415 => "Request body is not JSON",
        422 => {
            "Fields break validation rules (or an Idempotency-Key was reused with another body, where the operation takes one)"
        }
        503 => "Database unavailable or too slow",
        500 => "An unexpected failure; `detail` gives nothing of its cause",
        _ => "Error",
    }
}

/// Headers that come with some problems.
fn problem_headers(status: u16) -> Vec<(&'static str, &'static str)> {
    match status {
        401 => vec![(
            "WWW-Authenticate",
            "`Bearer realm=\"linkwell\"`, with `error=\"invalid_token\"` when a token was sent",
        )],
        429 | 503 => vec![("Retry-After", "Seconds to wait before retrying")],
        _ => Vec::new(),
    }
}

fn problems(statuses: &[u16], body: bool) -> BTreeMap<String, RefOr<Response>> {
    statuses
        .iter()
        .map(|status| {
            let mut response = ResponseBuilder::new()
                .description(describe(*status, body))
                .content(
                    PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                );
            for (name, description) in problem_headers(*status) {
                let schema = response_header(name).unwrap_or_default();
                response = response.header(
                    name,
                    HeaderBuilder::new()
                        .schema(Some(schema))
                        .description(Some(description))
                        .build(),
                );
            }
            (status.to_string(), RefOr::T(response.build()))
        })
        .collect()
}

fn problem(status: u16) -> RefOr<Response> {
    problems(&[status], false)
        .remove(&status.to_string())
        .unwrap_or_else(|| RefOr::T(Response::new(describe(status, false))))
}

/// The 429 every rate-limited operation can answer.
pub fn rate_limited() -> RefOr<Response> {
    problem(429)
}

/// The 401 every operation that reads a bearer token can answer.
pub fn unauthorized() -> RefOr<Response> {
    problem(401)
}

/// The 500 any operation can answer.
pub fn internal_error() -> RefOr<Response> {
    problem(500)
}

/// The `RateLimit` fields, on every answer to a request that spent an allowance.
pub const RATE_LIMIT_HEADERS: [&str; 2] = ["RateLimit-Policy", "RateLimit"];

/// The bounded schema of each response header the server writes, by name; `None` for a name
/// it does not know (the lint then fails on the header's open string).
pub fn response_header(name: &str) -> Option<ObjectBuilder> {
    let string = |max: usize, pattern: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(max))
            .pattern(Some(pattern))
    };
    Some(match name {
        // `wire::etag`: a version, an `i64`, in quotes.
        "ETag" => string(21, r#"^"[0-9]{1,19}"$"#),
        // A path on this server: `/v1/` and ids.
        "Location" => string(255, r"^/[A-Za-z0-9/._~-]*$"),
        // Whole seconds: 5 while the database is away, else under a minute (`ratelimit`).
        "Retry-After" => string(5, r"^[1-9][0-9]{0,4}$"),
        "WWW-Authenticate" => string(
            64,
            r#"^(Bearer|Basic) realm="linkwell"(, error="invalid_token")?$"#,
        ),
        "Cache-Control" => ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some([crate::routes::keys::CACHE_CONTROL])),
        "Idempotent-Replayed" => ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["true"])),
        // `ratelimit::Standing::write`: a policy name, then `u32` and `u64` figures.
        "RateLimit-Policy" => string(64, r#"^"[a-z]{1,16}";q=[0-9]{1,10};w=[0-9]{1,20}$"#),
        "RateLimit" => string(64, r#"^"[a-z]{1,16}";r=[0-9]{1,10};t=[0-9]{1,20}$"#),
        // An origin from the configured list (`cors`), as the browser sent it.
        crate::cors::ALLOW_ORIGIN => ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^https?://[^/?#@\s]+$"))
            .max_length(Some(crate::cors::MAX_ORIGIN_CHARS)),
        _ => return None,
    })
}

/// Headers declared once under `components/headers` and referred to from each answer.
pub fn shared_headers() -> Vec<(&'static str, utoipa::openapi::header::Header)> {
    let header = |name: &str, description: &str| {
        HeaderBuilder::new()
            .schema(response_header(name).map(Schema::from))
            .description(Some(description))
            .build()
    };
    vec![
        (
            "RateLimit-Policy",
            header(
                "RateLimit-Policy",
                "The quota policy applied: `\"default\";q=1200;w=60` (each authenticated caller, across every operation) or `\"public\";q=10;w=60` (without a token, per client address and operation) or `\"refused\";q=1200;w=60` (a token was sent and refused, per client address) or `\"probe\";q=600;w=60` (a health probe or the key set, per client address and operation); `q` requests per `w` seconds.",
            ),
        ),
        (
            "RateLimit",
            header(
                "RateLimit",
                "Where the caller stands: `\"default\";r=1187;t=1`: `r` requests left, `t` seconds until the allowance is full again.",
            ),
        ),
        (
            "Retry-After",
            header("Retry-After", "Seconds to wait before retrying"),
        ),
        (
            crate::cors::ALLOW_ORIGIN,
            header(
                crate::cors::ALLOW_ORIGIN,
                "The caller's `Origin`, echoed when it is one of the origins allowed to call the API from a browser (`LINKWELL_CORS_ORIGINS`); absent otherwise.",
            ),
        ),
    ]
}

macro_rules! problem_set {
    ($($(#[$doc:meta])* $name:ident = [$($status:literal),+], body: $body:literal;)+) => {
        $(
            $(#[$doc])*
            #[derive(Debug)]
            pub struct $name;

            impl IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    problems(&[$($status),+], $body)
                }
            }
        )+
    };
}

problem_set! {
    /// A create with a JSON body.
    CreateProblems = [400, 401, 403, 409, 413, 415, 422, 503], body: true;
    /// A create under a parent resource that may not exist.
    CreateUnderProblems = [400, 401, 403, 404, 409, 413, 415, 422, 503], body: true;
    /// A create open to anyone, rate limited.
    PublicCreateProblems = [400, 409, 413, 415, 422, 429, 503], body: true;
    /// A change to an existing resource, with a JSON body and `If-Match`.
    ChangeProblems = [400, 401, 403, 404, 409, 412, 413, 415, 422, 428, 503], body: true;
    /// A state set with a JSON body on a resource under another, idempotent: no `If-Match`.
    SetProblems = [400, 401, 403, 404, 409, 413, 415, 422, 503], body: true;
    /// A change to an existing resource with `If-Match` and no body.
    ChangeWithoutBodyProblems = [400, 401, 403, 404, 409, 412, 428, 503], body: false;
    /// An action on an existing resource, without a body.
    ActionProblems = [400, 401, 403, 404, 409, 503], body: false;
    /// An action without a body on an existing resource, naming another that may not fit it.
    NamingProblems = [400, 401, 403, 404, 409, 422, 503], body: false;
    /// A list open to anyone: rate limited without a token; a token sent must be valid.
    PublicListProblems = [400, 401, 429, 503], body: false;
    /// A read by id open to anyone, likewise.
    PublicReadProblems = [400, 401, 404, 429, 503], body: false;
    /// A list with query parameters.
    ListProblems = [400, 401, 403, 503], body: false;
    /// A report offered in more than one media type (`Accept`).
    ReportProblems = [400, 401, 403, 406, 503], body: false;
    /// A read by id.
    ReadProblems = [400, 401, 403, 404, 503], body: false;
    /// A read by id of something that can be ended on purpose.
    ReadEndableProblems = [400, 401, 403, 404, 410, 503], body: false;
    /// A read of what a connection shares, while it is shared (409 once it is not), of
    /// something that can be ended on purpose.
    SharedReadProblems = [400, 401, 403, 404, 409, 410, 503], body: false;
    /// An erasure: a JSON body, refused while referrals are open, 410 once done.
    ErasureProblems = [400, 401, 403, 404, 409, 410, 413, 415, 422, 503], body: true;
    /// A probe.
    ProbeProblems = [503], body: false;
    /// A read through a one-time action link: rate limited; a link altered or unknown is 404,
    /// one expired, used or over 410.
    LinkProblems = [400, 404, 410, 429, 503], body: false;
    /// An answer through a one-time action link.
    LinkAnswerProblems = [400, 403, 404, 409, 410, 413, 415, 422, 429, 503], body: true;
}

/// Declares a named schema for a bounded scalar that many responses share.
macro_rules! bounded_schema {
    ($($(#[doc = $doc:literal])+ $name:ident = $schema:expr;)+) => {$(
        $(#[doc = $doc])+
        #[derive(Debug)]
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                let schema: ObjectBuilder = $schema;
                let doc = [$($doc),+].map(str::trim).join(" ");
                schema.description(Some(doc)).into()
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    )+};
}

fn whole(minimum: i64, maximum: i64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(utoipa::openapi::schema::SchemaFormat::KnownFormat(
            utoipa::openapi::schema::KnownFormat::Int64,
        )))
        .minimum(Some(minimum))
        .maximum(Some(maximum))
}

fn bounded_string(max: usize, pattern: Option<&str>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(max))
        .pattern(pattern)
}

bounded_schema! {
    /// The record's version: one more with every change (1 when made; a plan nobody has
    /// written yet is 0); also its `ETag`.
    Version = whole(0, i64::MAX);
    /// A number of records: never negative.
    Count = whole(0, i64::MAX);
    /// Whole days: never negative.
    Days = whole(0, i64::MAX);
    /// Whole seconds, at least one.
    Seconds = whole(1, i64::MAX);
    /// Who acted: the subject of their token (a user's id or a registered system's), or
    /// `anonymous@ADDRESS` without one.
    Subject = bounded_string(crate::auth::MAX_SUBJECT_CHARS, None);
    /// A status or other snake_case code.
    CodeName = bounded_string(64, Some("^[a-z0-9_.]+$"));
}
