//! Referrals as returned.

use chrono::{DateTime, Utc};
use linkwell_domain::Referral;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{schema, wire};

/// The person referred, as stored.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Person)]
pub struct PersonView {
    pub given_name: String,
    pub family_name: String,
    #[schema(format = Date)]
    pub date_of_birth: String,
    /// Ten digits, no separators.
    #[schema(required = true)]
    pub nhs_number: Option<String>,
    #[schema(required = true)]
    pub phone: Option<String>,
    #[schema(required = true)]
    pub email: Option<String>,
    #[schema(required = true)]
    pub postcode: Option<String>,
    #[schema(required = true)]
    pub address: Option<String>,
    #[schema(required = true, value_type = Option<schema::PreferredContact>)]
    pub preferred_contact: Option<String>,
}

/// A referral.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Referral)]
pub struct ReferralView {
    pub id: Uuid,
    #[schema(value_type = schema::ReferralStatus)]
    pub status: String,
    pub person: PersonView,
    #[schema(value_type = schema::ReferralSource)]
    pub source: String,
    #[schema(value_type = Vec<schema::Reason>)]
    pub reasons: Vec<String>,
    #[schema(required = true)]
    pub summary: Option<String>,
    /// The referring organisation, from the referrer's token; `null` when staff entered it.
    #[schema(required = true)]
    pub referrer_org_id: Option<Uuid>,
    #[schema(required = true)]
    pub external_reference: Option<String>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub received_at: DateTime<Utc>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    /// Grows by one with every change; also the `ETag`.
    pub version: i64,
}

impl From<&Referral> for ReferralView {
    fn from(r: &Referral) -> Self {
        let p = &r.person;
        Self {
            id: r.id,
            status: r.status.as_str().to_owned(),
            person: PersonView {
                given_name: p.given_name.clone(),
                family_name: p.family_name.clone(),
                date_of_birth: p.date_of_birth.date().format("%Y-%m-%d").to_string(),
                nhs_number: p.nhs_number.as_ref().map(|n| n.as_str().to_owned()),
                phone: p.phone.as_ref().map(|v| v.as_str().to_owned()),
                email: p.email.as_ref().map(|v| v.as_str().to_owned()),
                postcode: p.postcode.as_ref().map(|v| v.as_str().to_owned()),
                address: p.address.clone(),
                preferred_contact: p.preferred_contact.map(|c| c.as_str().to_owned()),
            },
            source: r.source.as_str().to_owned(),
            reasons: r.reasons.iter().map(|x| x.as_str().to_owned()).collect(),
            summary: r.summary.clone(),
            referrer_org_id: r.referrer_org_id,
            external_reference: r.external_reference.clone(),
            received_at: r.received_at,
            updated_at: r.updated_at,
            version: r.version,
        }
    }
}

/// A page of referrals.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralPage {
    pub items: Vec<ReferralView>,
    /// Pass as `cursor` for the next page; `null` on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}
