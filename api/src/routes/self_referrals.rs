//! Self-referral: a person refers themselves, or someone who knows them introduces them, with
//! no token. The answer is only a short reference to quote, never the record or its id.

use actix_web::{HttpResponse, post, web};
use linkwell_domain::self_referral::{self, Introducer};
use linkwell_domain::{NewReferral, Reasons, Referral};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use crate::access::{CreateSelfReferral, PublicJson};
use crate::create::{self, Made};
use crate::error::{ApiError, FieldError, at, at_optional};
use crate::fields::{self, Field};
use crate::idempotency::IdempotencyKey;
use crate::routes::referrals::{PersonInput, receive};
use crate::schema::PublicCreateProblems;
use crate::state::AppState;
use crate::{clock, rules, schema};

/// Someone introducing the person: a friend, neighbour or family member.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewIntroducer)]
pub struct IntroducerInput {
    #[validate(custom(function = "rules::field"))]
    pub name: fields::IntroducerName,
    #[validate(custom(function = "rules::field"))]
    pub relationship: fields::Relationship,
    #[validate(custom(function = "rules::field"))]
    pub phone: Option<fields::Phone>,
    #[validate(custom(function = "rules::field"))]
    pub email: Option<fields::Email>,
}

/// A self-referral, as sent.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewSelfReferral)]
pub struct SelfReferralInput {
    /// The person being referred. Their `preferred_contact`, if given here, must match the
    /// one below.
    #[validate(nested)]
    pub person: PersonInput,
    /// At least one, each at most once.
    #[validate(custom(function = "rules::reasons"))]
    #[schema(schema_with = schema::reason_set)]
    pub reasons: Vec<String>,
    /// Must be `true`: the person agreed to their details being shared with the service.
    #[validate(custom(function = "rules::consent"))]
    #[schema(schema_with = schema::must_be_true)]
    pub consent_to_share: bool,
    /// How the person wants to be contacted; the person must have the matching detail
    /// (`phone` or `text` a phone, `email` an email, `letter` an address).
    #[validate(custom(function = "rules::field"))]
    pub preferred_contact: schema::PreferredContact,
    #[validate(custom(function = "rules::field"))]
    pub summary: Option<fields::Summary>,
    /// Someone who knows the person and is introducing them.
    #[validate(nested)]
    pub introduced_by: Option<IntroducerInput>,
}

impl SelfReferralInput {
    fn into_domain(self, min_age: u32) -> Result<(NewReferral, Option<Introducer>), ApiError> {
        let preferred = at("/preferred_contact", self.preferred_contact.parse())?;
        let mut person = self.person.into_domain("/person")?;
        if person.preferred_contact.is_some_and(|p| p != preferred) {
            return Err(ApiError::Validation(vec![FieldError::at(
                "/person/preferred_contact",
                "contact_mismatch",
                "must match preferred_contact, or be left out",
            )]));
        }
        person.preferred_contact = Some(preferred);
        at("/preferred_contact", person.check_contact())?;
        self_referral::check_age(person.date_of_birth, clock::today(), min_age).map_err(|e| {
            ApiError::Ineligible {
                code: e.code,
                detail: e.message.to_string(),
                errors: vec![FieldError::at("/person/date_of_birth", e.code, e.message)],
            }
        })?;
        let introducer = self
            .introduced_by
            .map(|i| -> Result<Introducer, ApiError> {
                Ok(Introducer {
                    name: at("/introduced_by/name", i.name.parse())?,
                    relationship: at("/introduced_by/relationship", i.relationship.parse())?,
                    phone: at_optional("/introduced_by/phone", i.phone.as_ref())?,
                    email: at_optional("/introduced_by/email", i.email.as_ref())?,
                })
            })
            .transpose()?;
        let reasons = Reasons::parse(&self.reasons);
        let new = NewReferral {
            person,
            source: self_referral::source(introducer.as_ref()),
            reasons: at("/reasons", reasons)?,
            summary: at_optional("/summary", self.summary.as_ref())?,
            external_reference: None,
        };
        Ok((new, introducer))
    }
}

/// What a self-referral answers: a reference to quote, nothing that reads the record.
#[derive(Debug, Serialize, ToSchema)]
pub struct SelfReferralReceipt {
    /// Quote this when you contact the service.
    #[schema(example = "LW-7K3M9Q", max_length = 9)]
    pub reference: String,
}

/// Refer yourself, or someone you know.
///
/// No token needed. The person must be at least the service's minimum age on the day (16
/// unless configured otherwise): 422 `not_eligible_age` otherwise. With `introduced_by` the
/// route is `family_or_friend`, else `self`. The answer is only a short reference the person
/// can quote. Without a token, rate limited per client address (429 with `Retry-After`). With
/// one (staff entering a self-referral on someone's behalf) the token must be valid (401
/// otherwise), names who entered it, and the caller's own allowance applies instead. Send an `Idempotency-Key` to make
/// retries safe.
#[utoipa::path(
    operation_id = "create_self_referral",
    tag = "referrals",
    params(IdempotencyKey),
    request_body = SelfReferralInput,
    responses(
        (status = 201, description = "Received; quote the reference", body = SelfReferralReceipt,
            headers(("Idempotent-Replayed" = String, description = "`true` when this repeats the stored response to an earlier request with the same Idempotency-Key"))),
        PublicCreateProblems,
    ),
    // Anyone may refer themselves; staff entering one on someone's behalf send their token.
    security((), ("bearer" = [])),
)]
#[post("/self-referrals")]
pub async fn create_self_referral(
    request: PublicJson<CreateSelfReferral, SelfReferralInput>,
    state: web::Data<AppState>,
    key: IdempotencyKey,
) -> Result<HttpResponse, ApiError> {
    let PublicJson { actor, body, .. } = request;
    let (new, introducer) = body.value.into_domain(state.min_age)?;
    let mut referral = Referral::received(
        Uuid::now_v7(),
        new,
        Uuid::now_v7(),
        None,
        String::new(),
        clock::now(),
    );
    referral.introduced_by = introducer;
    create::create(&state, actor, key, &body.raw, move |conn, actor| {
        let referral = receive(conn, actor, &referral)?;
        let receipt = SelfReferralReceipt {
            reference: referral.reference.clone(),
        };
        Ok(Made::new(referral.id, None, None, &receipt)?
            .concerning(referral.person_id, Some(referral.id)))
    })
    .await
}
