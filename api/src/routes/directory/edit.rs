//! Correcting a directory entry, or changing its status and capacity.

use actix_web::{HttpResponse, patch, web};
use linkwell_domain::{Invalid, Service, directory};
use linkwell_persistence::directory as store;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::{Validate, ValidationErrors};

use super::{ServiceView, needs, registered};
use crate::access::{AllowedJson, UpdateService};
use crate::audit::Refusal;
use crate::error::{ApiError, FieldError};
use crate::extract::{nullable, present};
use crate::fields::{self, Field};
use crate::precondition::IfMatch;
use crate::schema::ChangeProblems;
use crate::state::AppState;
use crate::{change, clock, schema, wire};

/// A merge patch of a service's contact: `null` removes a member.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ContactPatch)]
pub struct ContactPatch {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<fields::Phone>)]
    pub phone: Option<Option<fields::Phone>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<fields::Email>)]
    pub email: Option<Option<fields::Email>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<fields::Website>)]
    pub website: Option<Option<fields::Website>>,
}

/// A JSON merge patch (RFC 7396) of a service: members left out stay as they are; `null`
/// removes an optional member (`organisation_id`, `area`, `postcode`, `min_age`, a contact
/// detail). `needs`, when sent, replaces the list.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ServicePatch)]
pub struct ServicePatch {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = fields::ServiceName, required = false)]
    pub name: Option<fields::ServiceName>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = fields::ServiceDescription, required = false)]
    pub description: Option<fields::ServiceDescription>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub organisation_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = schema::reason_set, required = false)]
    pub needs: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<fields::Area>)]
    pub area: Option<Option<fields::Area>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<fields::Postcode>)]
    pub postcode: Option<Option<fields::Postcode>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = ContactPatch, required = false)]
    pub contact: Option<ContactPatch>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = bool, required = false)]
    pub accepts_referrals: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = schema::ServiceStatus, required = false)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = schema::Capacity, required = false)]
    pub capacity: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = schema::min_age)]
    pub min_age: Option<Option<i64>>,
}

/// Checked as a whole by [`ServicePatch::apply`], which reports every member at once.
impl Validate for ServicePatch {
    fn validate(&self) -> Result<(), ValidationErrors> {
        Ok(())
    }
}

/// Applies one merge-patch member: absent keeps, `null` clears, a value is parsed.
fn merge<T, E>(
    slot: &mut Option<T>,
    sent: &Option<Option<E>>,
    parse: impl Fn(&E) -> Result<T, Invalid>,
) -> Result<(), Invalid> {
    match sent {
        Some(Some(value)) => *slot = Some(parse(value)?),
        Some(None) => *slot = None,
        None => {}
    }
    Ok(())
}

impl ServicePatch {
    /// `service` with the members sent, or every member that breaks its own rule.
    fn apply(&self, mut s: Service) -> Result<Service, ApiError> {
        let mut errors = Vec::new();
        let mut note = |member: &str, result: Result<(), Invalid>| {
            if let Err(e) = result {
                errors.push(FieldError::at(format!("/{member}"), e.code, e.message));
            }
        };
        if let Some(name) = &self.name {
            note("name", name.parse().map(|v| s.name = v));
        }
        if let Some(text) = &self.description {
            note("description", text.parse().map(|v| s.description = v));
        }
        merge(&mut s.organisation_id, &self.organisation_id, |id| Ok(*id)).unwrap_or_default();
        if let Some(codes) = &self.needs {
            note("needs", needs(codes).map(|v| s.needs = v));
        }
        note("area", merge(&mut s.area, &self.area, Field::parse));
        note(
            "postcode",
            merge(&mut s.postcode, &self.postcode, Field::parse),
        );
        if let Some(contact) = &self.contact {
            let c = &mut s.contact;
            note(
                "contact/phone",
                merge(&mut c.phone, &contact.phone, Field::parse),
            );
            note(
                "contact/email",
                merge(&mut c.email, &contact.email, Field::parse),
            );
            note(
                "contact/website",
                merge(&mut c.website, &contact.website, Field::parse),
            );
        }
        if let Some(accepts) = self.accepts_referrals {
            s.accepts_referrals = accepts;
        }
        if let Some(code) = &self.status {
            note(
                "status",
                code.parse().map_err(Invalid::from).map(|v| s.status = v),
            );
        }
        if let Some(code) = &self.capacity {
            note(
                "capacity",
                code.parse().map_err(Invalid::from).map(|v| s.capacity = v),
            );
        }
        note(
            "min_age",
            merge(&mut s.min_age, &self.min_age, |y| directory::min_age(*y)),
        );
        if errors.is_empty() {
            Ok(s)
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

/// Correct a directory service, or change its status or capacity.
///
/// A JSON merge patch; send `If-Match` with the ETag you read.
#[utoipa::path(
    operation_id = "update_service",
    tag = "directory",
    params(("id" = Uuid, Path, description = "The service's id"), IfMatch),
    request_body(content = ServicePatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The service as changed", body = ServiceView,
            headers(("ETag" = String, description = "The service's new version"))),
        ChangeProblems,
    ),
    security(("bearer" = [])),
)]
#[patch("/directory/services/{id}")]
pub async fn update_service(
    request: AllowedJson<UpdateService, ServicePatch>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let patch = body.value;
    let expected = if_match.versions()?;
    let id = id.into_inner();
    let service = change::change(&state, actor, id, move |conn, _| {
        let before = store::get(conn, id)?.ok_or_else(Refusal::not_found)?;
        // A broken body is refused (422) whatever the version it names.
        let mut service = patch.apply(before.clone())?;
        expected.check(before.version)?;
        if service == before {
            return Ok(service);
        }
        if let Some(org) = service.organisation_id
            && before.organisation_id != Some(org)
        {
            registered(conn, "/organisation_id", org)?;
        }
        service.touch(clock::now());
        if !store::save(conn, &service, before.version)? {
            return Err(Refusal::stale().into());
        }
        Ok(service)
    })
    .await?;
    Ok(wire::current(service.version, &ServiceView::from(&service)))
}
