//! Making a connection under a referral, and listing a referral's connections.

use actix_web::{HttpResponse, get, post, web};
use linkwell_domain::connection::{self, Connection};
use linkwell_domain::consent::ConsentScope;
use linkwell_domain::{OrganisationKind, Referral, Service, ServiceStatus};
use linkwell_persistence::connections::{self, ConnectionFilter, Visibility};
use linkwell_persistence::{DbConnection, consent, directory, organisations, people, referrals};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::{ConnectionPage, ConnectionView, views};
use crate::access::{Allowed, AllowedJson, CreateConnection, ListReferralConnections};
use crate::audit::{Outcome, Refusal, Stop};
use crate::create::{self, Creatable, Created, Made};
use crate::error::{ApiError, FieldError, at, at_optional};
use crate::fields;
use crate::fields::Field;
use crate::idempotency::IdempotencyKey;
use crate::listing;
use crate::pagination::PageQuery;
use crate::routes::referrals::engaged;
use crate::schema::{CreateUnderProblems, ReadEndableProblems};
use crate::state::AppState;
use crate::{clock, rules, schema};

/// A connection to make: to an organisation, a directory service, or both.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewConnection)]
pub struct ConnectionInput {
    /// The receiving organisation: a registered partner, agency or community group. With a
    /// service, it must be the organisation that runs it (left out, that one is used).
    pub organisation_id: Option<Uuid>,
    /// A directory service. One that does not accept referrals makes a signpost.
    pub service_id: Option<Uuid>,
    /// The need it is for.
    #[validate(custom(function = "rules::field"))]
    pub need: schema::Reason,
    #[validate(custom(function = "rules::field"))]
    pub note_for_partner: Option<fields::NoteForPartner>,
    /// Must be `true`: the person agreed to their details being shared with the receiving
    /// organisation.
    #[validate(custom(function = "rules::consent"))]
    #[schema(schema_with = schema::must_be_true)]
    pub consent_to_share: bool,
    #[validate(custom(function = "rules::shared_fields"))]
    #[schema(schema_with = schema::shared_field_set)]
    pub shared_fields: Vec<String>,
    /// `true` when the receiving organisation has no login (a community group, say): staff
    /// record its answers on its behalf (`recorded_on_behalf_of`), and the request never
    /// expires unanswered. `false` when left out.
    pub answered_by_staff: Option<bool>,
}

/// The receiving organisation and the service, checked against what is registered.
fn resolve(
    conn: &mut DbConnection,
    organisation_id: Option<Uuid>,
    service_id: Option<Uuid>,
) -> Result<(Option<Uuid>, Option<Service>), Stop> {
    if organisation_id.is_none() && service_id.is_none() {
        let message = "give organisation_id, service_id or both";
        return Err(Refusal::invalid("/organisation_id", "required", message).into());
    }
    let service = match service_id {
        Some(id) => Some(directory::get(conn, id)?.ok_or_else(|| {
            Refusal::invalid(
                "/service_id",
                "unknown_service",
                "names no directory service",
            )
        })?),
        None => None,
    };
    if let Some(service) = &service
        && service.status != ServiceStatus::Active
    {
        return Err(Refusal::conflict(ApiError::StateConflict {
            code: "service_not_active",
            detail: format!(
                "the service is `{}`: connect people to active services",
                service.status
            ),
        })
        .into());
    }
    let runs_it = service.as_ref().and_then(|s| s.organisation_id);
    if let (Some(named), Some(runner)) = (organisation_id, runs_it)
        && named != runner
    {
        let message = "is not the organisation that runs the service";
        return Err(
            Refusal::invalid("/organisation_id", "not_the_service_organisation", message).into(),
        );
    }
    let receiver = organisation_id.or(runs_it);
    if let Some(org) = receiver {
        let registered = organisations::get(conn, org)?.ok_or_else(|| {
            Refusal::invalid(
                "/organisation_id",
                "unknown_organisation",
                "names no registered organisation",
            )
        })?;
        if registered.kind == OrganisationKind::GpPractice {
            let message =
                "is a GP practice: connections go to partners, agencies and community groups";
            return Err(Refusal::invalid(
                "/organisation_id",
                "not_a_receiving_organisation",
                message,
            )
            .into());
        }
    }
    Ok((receiver, service))
}

/// Whether the person may be connected: their identity is confirmed (a record flagged as
/// holding another record's NHS number shares nothing until staff resolve the flag), and they
/// are old enough for the service.
fn may_share(
    conn: &mut DbConnection,
    referral: &Referral,
    service: Option<&Service>,
) -> Result<(), Stop> {
    let person = people::get(conn, referral.person_id)?
        .ok_or_else(|| ApiError::Internal("a referral's person vanished".into()))?;
    if person.identity_unconfirmed() {
        let of = person
            .possible_duplicate_of
            .map_or_else(String::new, |id| format!(" /v1/people/{id}"));
        return Err(Refusal::conflict(ApiError::StateConflict {
            code: "identity_unconfirmed",
            detail: format!(
                "the person's record /v1/people/{} holds the NHS number of another record{of}: merge the two or dismiss the flag before sharing their details",
                person.id
            ),
        })
        .into());
    }
    if let Some(min_age) = service.and_then(|s| s.min_age)
        && let Err(too_young) = linkwell_domain::directory::check_min_age(
            person.details.date_of_birth,
            clock::today(),
            min_age,
        )
    {
        return Err(Refusal {
            error: ApiError::Ineligible {
                code: too_young.code,
                detail: too_young.message.to_string(),
                errors: vec![FieldError::at(
                    "/service_id",
                    too_young.code,
                    too_young.message,
                )],
            },
            about: None,
            outcome: Outcome::Rejected,
        }
        .into());
    }
    Ok(())
}

/// Connect the person to a partner organisation or a directory service.
///
/// Only while the referral is accepted, active or on hold (409 `referral_not_open`), while the
/// person's consent to sharing with partners stands (409 `consent_withdrawn` after a
/// withdrawal, until it is given again), to an active service (409 `service_not_active`), for
/// a person whose identity is confirmed (409 `identity_unconfirmed` while their record is
/// flagged as holding another record's NHS number) and who is at least the service's
/// `min_age` today (422 `below_service_min_age`). A service that does not accept referrals
/// makes a signpost (status `signposted`, final, its shared details kept as they are now);
/// otherwise the connection starts `requested`,
/// addressed to the organisation named or the one that runs the service (422 `required` when
/// there is none). The receiving organisation sees the person's `shared_fields` and nothing
/// else: never the link worker's notes, sessions or plan.
#[utoipa::path(
    operation_id = "create_connection",
    tag = "connections",
    params(("id" = Uuid, Path, description = "The referral's id"), IdempotencyKey),
    request_body = ConnectionInput,
    responses(
        Created<ConnectionView>,
        CreateUnderProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/referrals/{id}/connections")]
pub async fn create_connection(
    request: AllowedJson<CreateConnection, ConnectionInput>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let input = body.value;
    let referral_id = id.into_inner();
    let need = at("/need", input.need.parse())?;
    let note_for_partner = at_optional("/note_for_partner", input.note_for_partner.as_ref())?;
    let shared_fields = at(
        "/shared_fields",
        connection::shared_fields(&input.shared_fields),
    )?;
    let (organisation_id, service_id) = (input.organisation_id, input.service_id);
    let answered_by_staff = input.answered_by_staff.unwrap_or(false);
    create::create(&state, actor, key, &body.raw, move |conn, actor| {
        let referral = engaged(conn, referral_id, "connections")?;
        let scope = ConsentScope::SharingWithPartners;
        if !ConsentScope::allows(consent::latest_locked(conn, referral_id, scope)?) {
            return Err(Refusal::conflict(ApiError::StateConflict {
                code: "consent_withdrawn",
                detail: "the person withdrew their consent to sharing with partners: record it given again (POST /v1/referrals/{id}/consent) before connecting them".into(),
            })
            .into());
        }
        let (receiver, service) = resolve(conn, organisation_id, service_id)?;
        may_share(conn, &referral, service.as_ref())?;
        let status = Connection::starting_status(service.as_ref().map(|s| s.accepts_referrals));
        if status == linkwell_domain::ConnectionStatus::Requested && receiver.is_none() {
            let message =
                "the service has no registered organisation to receive connections: name one";
            return Err(Refusal::invalid("/organisation_id", "required", message).into());
        }
        let now = clock::now();
        let mut made = Connection {
            id: Uuid::now_v7(),
            referral_id,
            organisation_id: receiver,
            service_id,
            need,
            note_for_partner: note_for_partner.clone(),
            shared_fields: shared_fields.clone(),
            status,
            reason_code: None,
            reason: None,
            outcome: None,
            last_note_at: None,
            created_by: actor.caller.sub.clone(),
            created_at: now,
            updated_at: now,
            version: 1,
            frozen_details: None,
            answered_by_staff,
            on_behalf_of: None,
        };
        if status.is_final() {
            made.freeze_if_final(&super::person_of(conn, referral_id)?);
        }
        connections::insert(conn, &made)?;
        let view = super::view(conn, &made, &actor.caller)?;
        Ok(Made::new(
            made.id,
            Some(format!("/v1/connections/{}", made.id)),
            Some(made.version),
            &view,
        )?)
    })
    .await
}

/// List a referral's connections, newest first.
#[utoipa::path(
    operation_id = "list_referral_connections",
    tag = "connections",
    params(("id" = Uuid, Path, description = "The referral's id"), PageQuery),
    responses(
        (status = 200, description = "A page of connections", body = ConnectionPage),
        ReadEndableProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/referrals/{id}/connections")]
pub async fn list_referral_connections(
    allowed: Allowed<ListReferralConnections>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let referral_id = id.into_inner();
    let filter = ConnectionFilter {
        referral_id: Some(referral_id),
        ..ConnectionFilter::default()
    };
    let page = listing::under_parent(
        &state,
        allowed.actor,
        ("referral-connections", referral_id),
        &query,
        move |conn| referrals::exists(conn, referral_id),
        move |conn, w| connections::list(conn, Visibility::All, &filter, w.after, w.limit),
        |conn, rows, actor| views(conn, rows, &actor.caller),
    )
    .await?;
    Ok(HttpResponse::Ok().json(ConnectionPage {
        items: page.extra,
        next_cursor: page.next_cursor,
    }))
}

impl Creatable for ConnectionView {
    const SAYS: &'static str = "Connection made";
    const NOUN: &'static str = "connection";
}
