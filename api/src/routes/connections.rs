//! Connections: the link worker refers the person on to a partner organisation or a directory
//! service. Staff make and cancel them; the receiving organisation's `partner` tokens see only
//! the connections addressed to it — with only the person's details the person agreed to
//! share — and move them along. Anyone else's is 404, exactly as a missing one.

mod create;
pub(crate) mod notes;
pub(crate) mod plan;
mod read;
pub(crate) mod transition;

use chrono::{DateTime, Utc};
use linkwell_domain::connection::Connection;
use linkwell_domain::{ConnectionOutcome, ConnectionReasonCode, Role};
use linkwell_persistence::connections::Visibility;
use linkwell_persistence::{DbConnection, people};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

pub use create::{create_connection, list_referral_connections};
pub use notes::{create_connection_note, list_connection_notes};
pub use plan::{
    create_progress_note, get_shared_plan, list_connection_progress_notes,
    list_goal_progress_notes, list_shared_goals,
};
pub use read::{get_connection, list_connections};
pub use transition::transition_connection;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::pagination::Page;
use crate::{schema, wire};

/// Which connections a caller may see. Every role is named, so a role given access later
/// must be given a rule here too.
pub(crate) fn visibility(caller: &Caller) -> Result<Visibility, ApiError> {
    match (caller.role, caller.org) {
        (Role::Admin | Role::Coordinator, _) => Ok(Visibility::All),
        (Role::Partner, Some(org)) => Ok(Visibility::Receiver(org)),
        (Role::Partner, None) | (Role::Referrer | Role::Commissioner, _) => {
            Err(ApiError::Forbidden)
        }
    }
}

/// The person as the receiving organisation sees them: only the details they agreed to share
/// (a shared detail the record lacks is `null`; one not shared is absent).
#[derive(Debug, Default, Serialize, ToSchema)]
#[schema(as = SharedPerson)]
pub struct SharedPersonView {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::fields::PersonName>)]
    pub given_name: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::fields::PersonName>)]
    pub family_name: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub date_of_birth: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::fields::NhsNumber>)]
    pub nhs_number: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::fields::Phone>)]
    pub phone: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::fields::Email>)]
    pub email: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::fields::Postcode>)]
    pub postcode: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::fields::Address>)]
    pub address: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<schema::PreferredContact>)]
    pub preferred_contact: Option<Option<String>>,
}

impl SharedPersonView {
    fn new(details: Vec<(linkwell_domain::SharedField, Option<String>)>) -> Self {
        use linkwell_domain::SharedField as F;
        let mut view = Self::default();
        for (field, value) in details {
            let slot = match field {
                F::GivenName => &mut view.given_name,
                F::FamilyName => &mut view.family_name,
                F::DateOfBirth => &mut view.date_of_birth,
                F::NhsNumber => &mut view.nhs_number,
                F::Phone => &mut view.phone,
                F::Email => &mut view.email,
                F::Postcode => &mut view.postcode,
                F::Address => &mut view.address,
                F::PreferredContact => &mut view.preferred_contact,
                // Read at `/connections/{id}/plan`, never among the details.
                F::WellbeingPlan => continue,
            };
            *slot = Some(value);
        }
        view
    }
}

/// A connection. `referral_id` and `created_by` are shown to staff only: a partner never
/// reaches referrals.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Connection)]
pub struct ConnectionView {
    pub id: Uuid,
    /// Staff only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referral_id: Option<Uuid>,
    /// The receiving organisation.
    #[schema(required = true)]
    pub organisation_id: Option<Uuid>,
    #[schema(required = true)]
    pub service_id: Option<Uuid>,
    #[schema(value_type = schema::Reason)]
    pub need: &'static str,
    #[schema(required = true, value_type = Option<crate::fields::NoteForPartner>)]
    pub note_for_partner: Option<String>,
    /// The person's details they agreed to share with the receiving organisation.
    #[schema(value_type = Vec<schema::SharedField>, max_items = 10)]
    pub shared_fields: Vec<&'static str>,
    /// Those details, and nothing else: while the connection is open, as the person's record
    /// stands; once it is final, exactly as they were when it became final (no later
    /// correction of the record reaches the receiving organisation).
    pub person: SharedPersonView,
    #[schema(value_type = schema::ConnectionStatus)]
    pub status: &'static str,
    /// Why it last moved, when a code was given.
    #[schema(value_type = Option<schema::ConnectionReasonCode>, required = true)]
    pub reason_code: Option<&'static str>,
    /// Why it last moved, in words.
    #[schema(required = true, value_type = Option<crate::fields::ConnectionReason>)]
    pub reason: Option<String>,
    /// How it ended: set when completed or failed.
    #[schema(value_type = Option<schema::ConnectionOutcome>, required = true)]
    pub outcome: Option<&'static str>,
    /// When the latest note was added.
    #[serde(serialize_with = "wire::optional_timestamp")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub last_note_at: Option<DateTime<Utc>>,
    /// Staff record the receiving organisation's answers (it had no login when the connection
    /// was made, or staff recorded an answer for it): it never expires unanswered.
    pub answered_by_staff: bool,
    /// Who at the receiving organisation gave the last answer, when staff recorded it on its
    /// behalf; `null` when it answered for itself.
    #[schema(required = true, value_type = Option<crate::fields::OnBehalfOf>)]
    pub recorded_on_behalf_of: Option<String>,
    /// Staff only: who made it (the subject of their token).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::schema::Subject>)]
    pub created_by: Option<String>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    /// Grows by one with every change, a new note included; also the `ETag`.
    #[schema(value_type = crate::schema::Version)]
    pub version: i64,
}

impl ConnectionView {
    pub(crate) fn new(c: &Connection, person: &linkwell_domain::Person, caller: &Caller) -> Self {
        let staff = caller.role.is_staff();
        Self {
            id: c.id,
            referral_id: staff.then_some(c.referral_id),
            organisation_id: c.organisation_id,
            service_id: c.service_id,
            need: c.need.as_str(),
            note_for_partner: c.note_for_partner.clone(),
            shared_fields: c.shared_fields.iter().map(|f| f.as_str()).collect(),
            person: SharedPersonView::new(c.details(person)),
            status: c.status.as_str(),
            reason_code: c.reason_code.map(ConnectionReasonCode::as_str),
            reason: c.reason.clone(),
            outcome: c.outcome.map(ConnectionOutcome::as_str),
            last_note_at: c.last_note_at,
            answered_by_staff: c.answered_by_staff,
            recorded_on_behalf_of: c.on_behalf_of.clone(),
            created_by: staff.then(|| c.created_by.clone()),
            created_at: c.created_at,
            updated_at: c.updated_at,
            version: c.version,
        }
    }
}

/// The person's record behind referral `referral_id`, as it stands: what an open connection
/// shows, and what one becoming final keeps.
pub(crate) fn person_of(
    conn: &mut DbConnection,
    referral_id: Uuid,
) -> Result<linkwell_domain::Person, ApiError> {
    people::for_referrals(conn, &[referral_id])?
        .remove(&referral_id)
        .map(|record| record.details)
        .ok_or_else(|| ApiError::Internal("a connection's person vanished".into()))
}

/// The views of `connections` for `caller`, with each person read in one query.
pub(crate) fn views(
    conn: &mut DbConnection,
    connections: &[Connection],
    caller: &Caller,
) -> Result<Vec<ConnectionView>, ApiError> {
    let referrals: Vec<Uuid> = connections.iter().map(|c| c.referral_id).collect();
    let people = people::for_referrals(conn, &referrals)?;
    connections
        .iter()
        .map(|c| {
            let person = people
                .get(&c.referral_id)
                .ok_or_else(|| ApiError::Internal("a connection's person vanished".into()))?;
            Ok(ConnectionView::new(c, &person.details, caller))
        })
        .collect()
}

/// One connection's view.
fn view(
    conn: &mut DbConnection,
    connection: &Connection,
    caller: &Caller,
) -> Result<ConnectionView, ApiError> {
    views(conn, std::slice::from_ref(connection), caller)?
        .pop()
        .ok_or_else(|| ApiError::Internal("no view of a connection".into()))
}

/// A page of connections.
pub type ConnectionPage = Page<ConnectionView>;
