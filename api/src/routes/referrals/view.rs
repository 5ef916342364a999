//! Referrals as returned.

use chrono::{DateTime, Utc};
use linkwell_domain::self_referral::Introducer;
use linkwell_domain::{Person, Referral};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::pagination::Page;
use crate::{clock, schema, wire};

/// A person's details. On a referral: as its sender sent them.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Person)]
pub struct PersonView {
    #[schema(value_type = crate::fields::PersonName)]
    pub given_name: String,
    #[schema(value_type = crate::fields::PersonName)]
    pub family_name: String,
    #[schema(format = Date)]
    pub date_of_birth: String,
    /// Ten digits, no separators.
    #[schema(required = true, value_type = Option<crate::fields::NhsNumber>)]
    pub nhs_number: Option<String>,
    #[schema(required = true, value_type = Option<crate::fields::Phone>)]
    pub phone: Option<String>,
    #[schema(required = true, value_type = Option<crate::fields::Email>)]
    pub email: Option<String>,
    #[schema(required = true, value_type = Option<crate::fields::Postcode>)]
    pub postcode: Option<String>,
    #[schema(required = true, value_type = Option<crate::fields::Address>)]
    pub address: Option<String>,
    #[schema(required = true, value_type = Option<schema::PreferredContact>)]
    pub preferred_contact: Option<String>,
}

impl From<&Person> for PersonView {
    fn from(p: &Person) -> Self {
        Self {
            given_name: p.given_name.clone(),
            family_name: p.family_name.clone(),
            date_of_birth: p.date_of_birth.date().format("%Y-%m-%d").to_string(),
            nhs_number: p.nhs_number.as_ref().map(|n| n.as_str().to_owned()),
            phone: p.phone.as_ref().map(|v| v.as_str().to_owned()),
            email: p.email.as_ref().map(|v| v.as_str().to_owned()),
            postcode: p.postcode.as_ref().map(|v| v.as_str().to_owned()),
            address: p.address.clone(),
            preferred_contact: p.preferred_contact.map(|c| c.as_str().to_owned()),
        }
    }
}

/// A referral.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Referral)]
pub struct ReferralView {
    pub id: Uuid,
    /// A short reference to quote, e.g. `LW-7K3M9Q`.
    #[schema(example = "LW-7K3M9Q", max_length = 9)]
    pub reference: String,
    #[schema(value_type = schema::ReferralStatus)]
    pub status: String,
    pub person: PersonView,
    #[schema(value_type = schema::ReferralSource)]
    pub source: String,
    /// The reasons, first level: those sent, and those of the specific needs sent.
    #[schema(value_type = Vec<schema::Reason>, max_items = 11)]
    pub reasons: Vec<String>,
    /// The specific needs sent (the second level, each under one of `reasons`).
    #[schema(value_type = Vec<schema::Need>, max_items = 25)]
    pub specific_needs: Vec<&'static str>,
    #[schema(required = true, value_type = Option<crate::fields::Summary>)]
    pub summary: Option<String>,
    /// The referring organisation, from the referrer's token; `null` when staff entered it.
    #[schema(required = true)]
    pub referrer_org_id: Option<Uuid>,
    #[schema(required = true, value_type = Option<crate::fields::ExternalReference>)]
    pub external_reference: Option<String>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub received_at: DateTime<Utc>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    /// Grows by one with every change; also the `ETag`.
    #[schema(value_type = crate::schema::Version)]
    pub version: i64,
    /// Why the referral entered its current status, when that needs a reason.
    #[schema(required = true, value_type = Option<crate::fields::TransitionReason>)]
    pub status_reason: Option<String>,
    /// While `closed`: why.
    #[schema(required = true, value_type = Option<schema::ClosureReason>)]
    pub status_reason_code: Option<&'static str>,
    /// What to record in the person's GP record: set when the person accepts or declines.
    #[schema(required = true)]
    pub gp_record_code: Option<GpRecordCodeView>,
    /// Whether a link worker is assigned.
    pub assigned: bool,
    /// When a link worker first reached the person.
    #[serde(serialize_with = "wire::optional_timestamp")]
    #[schema(required = true, value_type = Option<String>, format = DateTime)]
    pub first_contact_at: Option<DateTime<Utc>>,
    /// Whole days from receipt to first contact, or to today while there is none.
    #[schema(value_type = crate::schema::Days)]
    pub days_waiting: i64,
    /// Staff only: the person's record, shared by their referrals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person_id: Option<Uuid>,
    /// Staff only: another person's record this referral's person may duplicate (null when
    /// none), for a link worker to merge or dismiss.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Uuid>)]
    pub possible_duplicate_of: Option<Option<Uuid>>,
    /// Staff only: why it may (null when it is not flagged). While it is
    /// `nhs_number_demographics_differ` or `same_nhs_number`, no connection can be made from
    /// this referral (409 `identity_unconfirmed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<schema::DuplicateReason>)]
    pub possible_duplicate_reason: Option<Option<&'static str>>,
    /// Staff only: who introduced the person to the service (null when nobody did).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<IntroducerView>)]
    pub introduced_by: Option<Option<IntroducerView>>,
    /// Staff only: the link worker assigned (null when nobody is).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Uuid>)]
    pub assignee_id: Option<Option<Uuid>>,
    /// Staff only: the team that owns it (null until it is first handed to one).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Uuid>)]
    pub team_id: Option<Option<Uuid>>,
}

/// Someone who introduced the person: a friend, neighbour or family member.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Introducer)]
pub struct IntroducerView {
    #[schema(value_type = crate::fields::IntroducerName)]
    pub name: String,
    /// How they know the person.
    #[schema(value_type = crate::fields::Relationship)]
    pub relationship: String,
    #[schema(required = true, value_type = Option<crate::fields::Phone>)]
    pub phone: Option<String>,
    #[schema(required = true, value_type = Option<crate::fields::Email>)]
    pub email: Option<String>,
}

impl From<&Introducer> for IntroducerView {
    fn from(i: &Introducer) -> Self {
        Self {
            name: i.name.clone(),
            relationship: i.relationship.clone(),
            phone: i.phone.as_ref().map(|p| p.as_str().to_owned()),
            email: i.email.as_ref().map(|e| e.as_str().to_owned()),
        }
    }
}

/// A coded concept for the GP record.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = GpRecordCode)]
pub struct GpRecordCodeView {
    /// `http://snomed.info/sct`
    #[schema(max_length = 64)]
    pub system: &'static str,
    #[schema(max_length = 32)]
    pub code: &'static str,
    #[schema(max_length = 255)]
    pub display: &'static str,
}

impl ReferralView {
    /// The referral as `caller` may see it: staff see who it is assigned to and the person's
    /// record; the referrer sees what it sent and how it is going, and whether (not to whom)
    /// it is assigned.
    pub fn for_caller(r: &Referral, caller: &Caller) -> Self {
        let mut view = Self::from(r);
        if caller.role.is_staff() {
            view.person_id = Some(r.person_id);
            view.assignee_id = Some(r.assignee_id);
            view.team_id = Some(r.team_id);
            view.possible_duplicate_of = Some(r.possible_duplicate_of);
            view.possible_duplicate_reason = Some(r.possible_duplicate_reason.map(|d| d.as_str()));
            view.introduced_by = Some(r.introduced_by.as_ref().map(IntroducerView::from));
        }
        view
    }
}

/// The view without staff-only members.
impl From<&Referral> for ReferralView {
    fn from(r: &Referral) -> Self {
        Self {
            id: r.id,
            reference: r.reference.clone(),
            status: r.status.as_str().to_owned(),
            person: PersonView::from(&r.person),
            source: r.source.as_str().to_owned(),
            reasons: r.reasons.iter().map(|x| x.as_str().to_owned()).collect(),
            specific_needs: r.reasons.needs().map(|n| n.as_str()).collect(),
            summary: r.summary.clone(),
            referrer_org_id: r.referrer_org_id,
            external_reference: r.external_reference.clone(),
            received_at: r.received_at,
            updated_at: r.updated_at,
            version: r.version,
            status_reason: r.status_reason.clone(),
            status_reason_code: r.closure_reason.map(|c| c.as_str()),
            gp_record_code: r.gp_record_code.map(|c| GpRecordCodeView {
                system: c.system,
                code: c.code,
                display: c.display,
            }),
            assigned: r.assignee_id.is_some(),
            first_contact_at: r.first_contact_at,
            days_waiting: r.days_waiting(clock::today()),
            person_id: None,
            possible_duplicate_of: None,
            possible_duplicate_reason: None,
            introduced_by: None,
            assignee_id: None,
            team_id: None,
        }
    }
}

/// A page of referrals.
pub type ReferralPage = Page<ReferralView>;
