//! Correcting a directory entry, or changing its status and capacity.

use actix_web::{HttpResponse, patch, web};
use linkwell_domain::directory::Website;
use linkwell_domain::opening_hours::{self, OpeningPeriod};
use linkwell_domain::{
    Capacity, Email, Invalid, Phone, Postcode, Reasons, Service, ServiceStatus, directory,
};
use linkwell_persistence::directory as store;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::{Validate, ValidationErrors};

use super::{OpeningPeriodInput, ServiceView, needs, registered, timetable};
use crate::access::{AllowedJson, UpdateService};
use crate::audit::Refusal;
use crate::error::ApiError;
use crate::fields;
use crate::patch::{Member, Parsing};
use crate::precondition::IfMatch;
use crate::schema::ChangeProblems;
use crate::state::AppState;
use crate::{change, clock, schema, wire};

/// A merge patch of a service's contact: `null` removes a member.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ContactPatch)]
pub struct ContactPatch {
    #[serde(default)]
    #[schema(value_type = Option<fields::Phone>)]
    pub phone: Member<fields::Phone>,
    #[serde(default)]
    #[schema(value_type = Option<fields::Email>)]
    pub email: Member<fields::Email>,
    #[serde(default)]
    #[schema(value_type = Option<fields::Website>)]
    pub website: Member<fields::Website>,
}

/// A JSON merge patch (RFC 7396) of a service: members left out stay as they are; `null`
/// removes an optional member (`organisation_id`, `area`, `postcode`, `min_age`, a contact
/// detail). `needs`, when sent, replaces the list.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ServicePatch)]
pub struct ServicePatch {
    #[serde(default)]
    #[schema(value_type = fields::ServiceName, required = false)]
    pub name: Member<fields::ServiceName>,
    #[serde(default)]
    #[schema(value_type = fields::ServiceDescription, required = false)]
    pub description: Member<fields::ServiceDescription>,
    #[serde(default)]
    #[schema(value_type = Option<Uuid>)]
    pub organisation_id: Member<Uuid>,
    #[serde(default)]
    #[schema(schema_with = schema::reason_set, required = false)]
    pub needs: Member<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<fields::Area>)]
    pub area: Member<fields::Area>,
    #[serde(default)]
    #[schema(value_type = Option<fields::Postcode>)]
    pub postcode: Member<fields::Postcode>,
    #[serde(default)]
    #[schema(value_type = ContactPatch, required = false)]
    pub contact: Member<ContactPatch>,
    #[serde(default)]
    #[schema(value_type = bool, required = false)]
    pub accepts_referrals: Member<bool>,
    #[serde(default)]
    #[schema(value_type = schema::ServiceStatus, required = false)]
    pub status: Member<schema::ServiceStatus>,
    #[serde(default)]
    #[schema(value_type = schema::Capacity, required = false)]
    pub capacity: Member<schema::Capacity>,
    #[serde(default)]
    #[schema(schema_with = schema::min_age)]
    pub min_age: Member<i64>,
    #[serde(default)]
    #[schema(schema_with = schema::max_age)]
    pub max_age: Member<i64>,
    /// The whole timetable, replaced; `null` or `[]` clears it.
    #[serde(default)]
    #[schema(value_type = Option<Vec<OpeningPeriodInput>>, max_items = 21)]
    pub opening_hours: Member<Vec<OpeningPeriodInput>>,
}

/// Checked as a whole by [`ServicePatch::parse`], which reports every member at once.
impl Validate for ServicePatch {
    fn validate(&self) -> Result<(), ValidationErrors> {
        Ok(())
    }
}

/// A service patch, each member parsed.
#[derive(Debug, Clone)]
struct Changes {
    name: Member<String>,
    description: Member<String>,
    organisation_id: Member<Uuid>,
    needs: Member<Reasons>,
    area: Member<String>,
    postcode: Member<Postcode>,
    phone: Member<Phone>,
    email: Member<Email>,
    website: Member<Website>,
    accepts_referrals: Member<bool>,
    status: Member<ServiceStatus>,
    capacity: Member<Capacity>,
    min_age: Member<u8>,
    max_age: Member<u8>,
    opening_hours: Member<Vec<OpeningPeriod>>,
}

impl ServicePatch {
    fn parse(&self) -> Result<Changes, ApiError> {
        let mut p = Parsing::default();
        // The contact's members merge one by one; the contact itself cannot be removed.
        let none = ContactPatch::default();
        let c = match &self.contact {
            Member::Value(contact) => contact,
            Member::Null => {
                p.note("contact", Invalid::new("required", "cannot be removed"));
                &none
            }
            Member::Absent => &none,
        };
        let changes = Changes {
            name: p.required("name", &self.name),
            description: p.required("description", &self.description),
            organisation_id: p
                .optional_with("organisation_id", &self.organisation_id, |id| Ok(*id)),
            needs: p.required_with("needs", &self.needs, |codes| needs(codes)),
            area: p.optional("area", &self.area),
            postcode: p.optional("postcode", &self.postcode),
            phone: p.optional("contact/phone", &c.phone),
            email: p.optional("contact/email", &c.email),
            website: p.optional("contact/website", &c.website),
            accepts_referrals: p
                .required_with("accepts_referrals", &self.accepts_referrals, |b| Ok(*b)),
            status: p.required("status", &self.status),
            capacity: p.required("capacity", &self.capacity),
            min_age: p.optional_with("min_age", &self.min_age, |y| directory::min_age(*y)),
            max_age: p.optional_with("max_age", &self.max_age, |y| directory::min_age(*y)),
            opening_hours: match &self.opening_hours {
                Member::Value(periods) => match timetable(periods) {
                    Ok(parsed) => Member::Value(parsed),
                    Err((member, e)) => {
                        p.note(&member, e);
                        Member::Absent
                    }
                },
                Member::Null => Member::Null,
                Member::Absent => Member::Absent,
            },
        };
        p.finish(changes)
    }
}

impl Changes {
    fn apply(self, mut s: Service) -> Service {
        self.name.replace(&mut s.name);
        self.description.replace(&mut s.description);
        self.organisation_id.merge_into(&mut s.organisation_id);
        self.needs.replace(&mut s.needs);
        self.area.merge_into(&mut s.area);
        self.postcode.merge_into(&mut s.postcode);
        self.phone.merge_into(&mut s.contact.phone);
        self.email.merge_into(&mut s.contact.email);
        self.website.merge_into(&mut s.contact.website);
        self.accepts_referrals.replace(&mut s.accepts_referrals);
        self.status.replace(&mut s.status);
        self.capacity.replace(&mut s.capacity);
        self.min_age.merge_into(&mut s.min_age);
        self.max_age.merge_into(&mut s.max_age);
        match self.opening_hours {
            Member::Value(periods) => s.opening_hours = periods,
            Member::Null => s.opening_hours.clear(),
            Member::Absent => {}
        }
        s
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
    let changes = body.value.parse()?;
    let expected = if_match.versions()?;
    let id = id.into_inner();
    let service = change::change(&state, actor, id, move |conn, _| {
        let before = store::get(conn, id)?.ok_or_else(Refusal::not_found)?;
        expected.check(before.version)?;
        let mut service = changes.clone().apply(before.clone());
        if service == before {
            return Ok(service);
        }
        // A rule across members: either may have changed.
        if let Err(e) = opening_hours::age_range(service.min_age, service.max_age) {
            return Err(Refusal::invalid("/max_age", e.code, e.message).into());
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
