//! The one create transaction every `POST` that makes a resource shares: an
//! `Idempotency-Key` retry replays the first answer, the same key with another body is refused,
//! otherwise the handler's `make` stores the resource; the stored answer, the resource and the
//! audit row commit together. A refusal is a value, not an error, so its audit row commits too.

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};
use actix_web::web;
use linkwell_persistence::Tx;
use linkwell_persistence::audit::Concerns;
use linkwell_persistence::idempotency::StoredResponse;
use serde::Serialize;
use uuid::Uuid;

use crate::audit::{Actor, Outcome, Stop};
use crate::db;
use crate::error::ApiError;
use crate::idempotency::{self, IdempotencyKey, Keyed};
use crate::state::AppState;

/// A resource just stored, and how to answer with it.
#[derive(Debug)]
pub struct Made {
    pub id: Uuid,
    /// Its URL, for `Location`; `None` when the caller may not read it back.
    pub location: Option<String>,
    /// Its version, for `ETag`.
    pub version: Option<i64>,
    /// The response body.
    pub body: String,
    /// Whom it concerns, when the maker knows from what it just wrote: its audit row then
    /// needs no look-up.
    pub concerns: Option<Concerns>,
}

impl Made {
    /// Serialises `view` as the answer for the resource at `location`.
    pub fn new(
        id: Uuid,
        location: Option<String>,
        version: Option<i64>,
        view: &impl Serialize,
    ) -> Result<Self, ApiError> {
        let body = serde_json::to_string(view)
            .map_err(|e| ApiError::Internal(format!("serialising a created resource: {e}")))?;
        Ok(Self {
            id,
            location,
            version,
            body,
            concerns: None,
        })
    }

    /// Says whom the resource concerns: its person, and its referral if any.
    pub fn concerning(self, person_id: Uuid, referral_id: Option<Uuid>) -> Self {
        Self {
            concerns: Some(Concerns {
                person_id: Some(person_id),
                referral_id,
            }),
            ..self
        }
    }
}

enum Answer {
    Made(Made),
    Replay(StoredResponse),
    Refused(ApiError),
}

/// Runs a create: `body` is the raw request (for the key's fingerprint); `make` stores the
/// resource in the transaction and says what it made, or why not. Answers 201 with
/// `Location`, `ETag` and the body, or replays, or refuses.
pub async fn create<F>(
    state: &web::Data<AppState>,
    actor: Actor,
    key: IdempotencyKey,
    body: &[u8],
    make: F,
) -> Result<HttpResponse, ApiError>
where
    F: Fn(&mut Tx<'_>, &Actor) -> Result<Made, Stop> + Send + 'static,
{
    let keyed = Keyed::new(key, &actor, body)?;
    let answer =
        db::transaction(state, move |conn| run(conn, &actor, keyed.as_ref(), &make)).await?;
    match answer {
        Answer::Made(made) => {
            let mut response = HttpResponse::Created();
            if let Some(location) = made.location {
                response.insert_header((header::LOCATION, location));
            }
            if let Some(version) = made.version {
                response.insert_header(crate::wire::etag(version));
            }
            Ok(response.content_type("application/json").body(made.body))
        }
        Answer::Replay(stored) => Ok(idempotency::replay(&stored)),
        Answer::Refused(error) => Err(error),
    }
}

fn run<F>(
    conn: &mut Tx<'_>,
    actor: &Actor,
    keyed: Option<&Keyed>,
    make: &F,
) -> Result<Answer, ApiError>
where
    F: Fn(&mut Tx<'_>, &Actor) -> Result<Made, Stop>,
{
    // The parent may have been erased (or its referral anonymised) since the request passed
    // the access gate: checked again under the lock its writers take.
    if let Some(parent) = actor.addressed
        && actor.operation.audited
    {
        match crate::change::current(conn, actor, parent) {
            Ok(()) => {}
            Err(Stop::Refused(refusal)) => {
                actor.record(conn, Some(parent), refusal.outcome)?;
                return Ok(Answer::Refused(refusal.error));
            }
            Err(Stop::Failed(error)) => return Err(error),
        }
    }
    if let Some(keyed) = keyed {
        match keyed.earlier(conn) {
            Ok(Some(stored)) => {
                // The last id in its URL: the resource, or the one a note was added to.
                let id = stored
                    .location
                    .as_deref()
                    .and_then(|l| l.rsplit('/').find_map(|part| Uuid::parse_str(part).ok()));
                actor.record(conn, id, Outcome::Replayed)?;
                return Ok(Answer::Replay(stored));
            }
            Ok(None) => {}
            Err(ApiError::IdempotencyKeyReused) => {
                actor.record(conn, actor.addressed, Outcome::Rejected)?;
                return Ok(Answer::Refused(ApiError::IdempotencyKeyReused));
            }
            Err(other) => return Err(other),
        }
    }
    match make(conn, actor) {
        Ok(made) => {
            if let Some(keyed) = keyed {
                keyed.save(
                    conn,
                    StatusCode::CREATED,
                    made.location.as_deref(),
                    &made.body,
                )?;
            }
            match made.concerns {
                Some(concerns) => actor.record_concerning(conn, made.id, concerns)?,
                None => actor.record(conn, Some(made.id), Outcome::Success)?,
            }
            Ok(Answer::Made(made))
        }
        Err(Stop::Refused(refusal)) => {
            // A refused create under a parent (`/v1/referrals/{id}/sessions`) names the parent.
            actor.record(conn, refusal.about.or(actor.addressed), refusal.outcome)?;
            Ok(Answer::Refused(refusal.error))
        }
        Err(Stop::Failed(error)) => Err(error),
    }
}

/// What a created resource is called in its `201` answer's contract.
pub trait Creatable: utoipa::ToSchema {
    /// The answer's description: "Session recorded".
    const SAYS: &'static str;
    /// The resource, for its headers' descriptions: "session".
    const NOUN: &'static str;
    /// Whether it has a version, sent as `ETag`.
    const VERSIONED: bool = true;
}

/// The `201` answer of a create, as the contract states it: the new `T`, where it can be read
/// (`Location`), its version (`ETag`) when it has one, and whether this repeats an earlier
/// answer (`Idempotent-Replayed`). List it in `responses(...)` as `Created<SessionView>`.
#[derive(Debug)]
pub struct Created<T>(std::marker::PhantomData<T>);

impl<T: Creatable> utoipa::IntoResponses for Created<T> {
    fn responses() -> std::collections::BTreeMap<
        String,
        utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
    > {
        use utoipa::openapi::header::HeaderBuilder;
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let header = |name: &str, description: String| {
            let schema = crate::schema::response_header(name).unwrap_or_default();
            (
                name.to_owned(),
                HeaderBuilder::new()
                    .schema(Some(schema))
                    .description(Some(description))
                    .build(),
            )
        };
        let noun = T::NOUN;
        let mut headers = vec![header(
            "Location",
            format!("Where the new {noun} can be read"),
        )];
        if T::VERSIONED {
            headers.push(header("ETag", format!("The {noun}'s version")));
        }
        headers.push(header(
            "Idempotent-Replayed",
            "`true` when this repeats the stored response to an earlier request with the same \
             Idempotency-Key"
                .to_owned(),
        ));
        let mut response = ResponseBuilder::new().description(T::SAYS).content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(T::name())))
                .build(),
        );
        for (name, built) in headers {
            response = response.header(name, built);
        }
        [("201".to_owned(), response.build().into())].into()
    }
}
