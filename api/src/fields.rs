//! String members of request bodies whose rule lives in the domain. Each is a type that
//! deserialises from a JSON string, describes itself in the OpenAPI document from the domain's
//! own constants (lengths, characters), and parses with the domain's own parser, so the
//! published contract and what the server accepts come from one definition.
//!
//! A request type declares `given_name: fields::PersonName` (or `Option<…>`), validates it with
//! `#[validate(custom(function = "rules::field"))]` and turns it into a domain value with
//! [`Field::parse`].

use std::borrow::Cow;

use linkwell_domain::text::TextRule;
use linkwell_domain::{
    Invalid, api_client, community_work, connection, directory, group_session, lifecycle,
    organisation, person, plan, privacy, referral, self_referral, session, team, user,
    user_identity,
};
use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::bounds;

/// A request member checked by a domain rule.
pub trait Field {
    /// The domain value it becomes.
    type Value;
    /// Runs the domain rule.
    fn parse(&self) -> Result<Self::Value, Invalid>;
}

/// `validator` hands optional members over by reference.
impl<F: Field> Field for &F {
    type Value = F::Value;
    fn parse(&self) -> Result<F::Value, Invalid> {
        F::parse(self)
    }
}

macro_rules! fields {
    ($(
        $(#[doc = $doc:literal])+
        $name:ident -> $value:ty = $parse:expr, $schema:expr;
    )+) => {$(
        $(#[doc = $doc])+
        #[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl Field for $name {
            type Value = $value;
            fn parse(&self) -> Result<$value, Invalid> {
                static MAX_CHARS: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
                let max = *MAX_CHARS.get_or_init(|| max_length(&<$name as PartialSchema>::schema()));
                // The domain rule speaks first; the bound catches what it would let through.
                let parse: fn(&str) -> Result<$value, Invalid> = $parse;
                let value = parse(&self.0)?;
                within(&self.0, max)?;
                Ok(value)
            }
        }

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

fields! {
    /// What administrators call a system that calls the API: one line.
    ClientName -> String = |v| api_client::NAME.parse(v), text(api_client::NAME);
    /// A given or family name: one line.
    PersonName -> String = |v| person::NAME.parse(v), text(person::NAME);
    /// A postal address; lines allowed.
    Address -> String = |v| person::ADDRESS.parse(v), text(person::ADDRESS);
    /// Free text about what matters to the person; no clinical detail.
    Summary -> String = |v| referral::SUMMARY.parse(v), text(referral::SUMMARY);
    /// The sending system's own id for a referral; unique per referring organisation.
    ExternalReference -> String =
        |v| referral::EXTERNAL_REFERENCE.parse(v), text(referral::EXTERNAL_REFERENCE);
    /// Why a status changes; lines allowed.
    TransitionReason -> String = |v| lifecycle::REASON.parse(v), text(lifecycle::REASON);
    /// How a user is shown to colleagues: one line.
    DisplayName -> String = |v| user::DISPLAY_NAME.parse(v), text(user::DISPLAY_NAME);
    /// The name of someone introducing the person: one line.
    IntroducerName -> String =
        |v| self_referral::INTRODUCER_NAME.parse(v), text(self_referral::INTRODUCER_NAME);
    /// How the introducer knows the person (e.g. neighbour, daughter): one line.
    Relationship -> String =
        |v| self_referral::RELATIONSHIP.parse(v), text(self_referral::RELATIONSHIP);
    /// The link worker's notes on a session: non-clinical; lines allowed.
    SessionNotes -> String = |v| session::NOTES.parse(v), text(session::NOTES);
    /// What matters to the person, in their words; lines allowed.
    WhatMatters -> String = |v| plan::WHAT_MATTERS.parse(v), text(plan::WHAT_MATTERS);
    /// The person's strengths and what they bring; lines allowed.
    Strengths -> String = |v| plan::STRENGTHS.parse(v), text(plan::STRENGTHS);
    /// A goal as agreed with the person; lines allowed.
    GoalDescription -> String =
        |v| plan::GOAL_DESCRIPTION.parse(v), text(plan::GOAL_DESCRIPTION);
    /// A community group not in the directory, by name: one line.
    CommunityGroupName -> String =
        |v| community_work::GROUP_NAME.parse(v), text(community_work::GROUP_NAME);
    /// What community work was done, in words (about groups, not people); lines allowed.
    CommunityWorkNotes -> String =
        |v| community_work::NOTES.parse(v), text(community_work::NOTES);
    /// A group session's title: one line.
    GroupSessionTitle -> String =
        |v| group_session::TITLE.parse(v), text(group_session::TITLE);
    /// A note on progress towards a goal; lines allowed.
    ProgressNoteText -> String =
        |v| plan::PROGRESS_NOTE.parse(v), text(plan::PROGRESS_NOTE);
    /// A service's name: one line.
    ServiceName -> String = |v| directory::NAME.parse(v), text(directory::NAME);
    /// What a service offers; lines allowed.
    ServiceDescription -> String =
        |v| directory::DESCRIPTION.parse(v), text(directory::DESCRIPTION);
    /// Where a service is offered, in words (a town, a ward, "county-wide"): one line.
    Area -> String = |v| directory::AREA.parse(v), text(directory::AREA);
    /// Words to search for, ignoring case: one line.
    SearchWords -> String = directory::normalise_query, text(directory::QUERY);
    /// An http or https address.
    Website -> directory::Website = directory::Website::parse,
        website();
    /// The link worker's note for the receiving organisation; lines allowed.
    NoteForPartner -> String =
        |v| connection::NOTE_FOR_PARTNER.parse(v), text(connection::NOTE_FOR_PARTNER);
    /// A note between the link worker and the partner; lines allowed.
    ConnectionNoteText -> String = |v| connection::NOTE.parse(v), text(connection::NOTE);
    /// Who at a receiving organisation gave an answer staff record on its behalf, and how
    /// ("Sam Patel, by phone"): one line.
    OnBehalfOf -> String = |v| connection::ON_BEHALF_OF.parse(v), text(connection::ON_BEHALF_OF);
    /// Why a connection moves; lines allowed.
    ConnectionReason -> String = |v| connection::REASON.parse(v), text(connection::REASON);
    /// Why consent was given or withdrawn, in the person's words; lines allowed.
    ConsentReason -> String =
        |v| linkwell_domain::consent::REASON.parse(v), text(linkwell_domain::consent::REASON);
    /// Why a person's data is erased (a request under UK GDPR article 17, a court order): kept
    /// with the record, so say why, not about whom; lines allowed.
    ErasureReason -> String = |v| privacy::ERASURE_REASON.parse(v), text(privacy::ERASURE_REASON);
    /// A calendar date, `YYYY-MM-DD`.
    Date -> chrono::NaiveDate = |v| {
        chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .ok()
            .filter(|_| v.len() == 10)
            .ok_or_else(|| Invalid::new("date_format", "must be a date, YYYY-MM-DD"))
    },
        string(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", Some(bounds::DATE_CHARS))
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)));
    /// A goal's target date, `YYYY-MM-DD`: from 2000-01-01 to ten years from today.
    TargetDate -> chrono::NaiveDate = |v| {
        chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .ok()
            .filter(|_| v.len() == 10)
            .ok_or_else(|| Invalid::new("date_format", "must be a date, YYYY-MM-DD"))
            .and_then(|d| plan::target_date(d, crate::clock::today()))
    },
        string(r"^20[0-9]{2}-[0-9]{2}-[0-9]{2}$", Some(bounds::DATE_CHARS))
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)));
    /// A date and time, RFC 3339 (`2026-03-18T09:30:00Z`); kept in UTC to the microsecond.
    Timestamp -> chrono::DateTime<chrono::Utc> = |v| {
        chrono::DateTime::parse_from_rfc3339(v)
            .map(|t| chrono::SubsecRound::trunc_subsecs(t.with_timezone(&chrono::Utc), 6))
            .map_err(|_| Invalid::new("date_time_format", "must be an RFC 3339 date and time"))
    },
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .max_length(Some(bounds::TIMESTAMP_CHARS))
            .pattern(Some(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"));
    /// A team's name: one line, unique in the service ignoring case.
    TeamName -> String = |v| team::NAME.parse(v), text(team::NAME);
    /// Where a team works, in words (a ward, a town): one line.
    TeamArea -> String = |v| team::AREA.parse(v), text(team::AREA);
    /// Why a referral is handed over to another team; lines allowed.
    HandoverReason -> String = |v| team::HANDOVER_REASON.parse(v), text(team::HANDOVER_REASON);
    /// A network's name (a Primary Care Network's, say): one line, unique ignoring case.
    NetworkName -> String = |v| organisation::NETWORK_NAME.parse(v), text(organisation::NETWORK_NAME);
    /// An organisation's name: one line.
    OrganisationName -> String = |v| organisation::NAME.parse(v), text(organisation::NAME);
    /// Ten digits with a valid Modulus 11 check digit; may be grouped 3-3-4 by spaces or
    /// hyphens. Stored and returned as ten digits.
    NhsNumber -> linkwell_domain::NhsNumber = linkwell_domain::NhsNumber::parse,
        string(
            linkwell_domain::NhsNumber::PATTERN,
            Some(linkwell_domain::NhsNumber::MAX_CHARS),
        );
    /// A phone number: 7 to 15 digits, optionally led by `+`, with spaces, hyphens and
    /// brackets.
    Phone -> linkwell_domain::Phone = linkwell_domain::Phone::parse,
        string(linkwell_domain::Phone::PATTERN, Some(linkwell_domain::Phone::MAX_CHARS));
    /// An email address; the domain part is stored lower case.
    Email -> linkwell_domain::Email = linkwell_domain::Email::parse,
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
            .max_length(Some(linkwell_domain::Email::MAX_CHARS));
    /// A time of day, `HH:MM` (24-hour).
    TimeOfDay -> chrono::NaiveTime = linkwell_domain::opening_hours::time_of_day,
        string(linkwell_domain::opening_hours::TIME_PATTERN, Some(5));
    /// A UK postcode; returned upper case as `OUTWARD INWARD`.
    Postcode -> linkwell_domain::Postcode = linkwell_domain::Postcode::parse,
        string(
            linkwell_domain::Postcode::PATTERN,
            Some(linkwell_domain::Postcode::MAX_CHARS),
        );
    /// `YYYY-MM-DD`, on or after 1900-01-01 and not in the future.
    DateOfBirth -> linkwell_domain::DateOfBirth =
        |v| linkwell_domain::DateOfBirth::parse(v, crate::clock::today()),
        string(r"^(19|20)[0-9]{2}-[0-9]{2}-[0-9]{2}$", Some(bounds::DATE_CHARS))
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)));
    /// An OpenID Connect provider's issuer, exactly as its tokens' `iss` carries it: an https
    /// URL with no query or fragment (http only for localhost).
    Issuer -> linkwell_domain::Issuer = linkwell_domain::Issuer::parse, issuer();
    /// The subject the provider gives the person (its tokens' `sub`), exactly: one line, no
    /// surrounding whitespace.
    ProviderSubject -> String = user_identity::subject, subject();
    /// An NHS ODS code: 3 to 10 letters and digits, stored upper case.
    OdsCode -> linkwell_domain::OdsCode = linkwell_domain::OdsCode::parse,
        string(
            linkwell_domain::OdsCode::PATTERN,
            Some(linkwell_domain::organisation::OdsCode::MAX_CHARS),
        );
}

/// The `maxLength` a field's schema documents.
fn max_length(schema: &RefOr<Schema>) -> Option<usize> {
    match schema {
        RefOr::T(Schema::Object(object)) => object.max_length,
        _ => None,
    }
}

/// Every field refuses what is longer than its schema says, whatever its own rule does, so
/// the documented bound and the enforced one cannot drift apart.
fn within(value: &str, max: Option<usize>) -> Result<(), Invalid> {
    let count = value.chars().count();
    match max {
        Some(max) if count > max => Err(Invalid::new(
            "too_long",
            format!("must be at most {max} characters (got {count})"),
        )),
        _ => Ok(()),
    }
}

/// A string with a pattern and an optional length bound.
fn string(pattern: &str, max_length: Option<usize>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .max_length(max_length)
}

/// The schema of a web address: `http` or `https`, a host, and none of the characters free
/// text refuses.
fn website() -> ObjectBuilder {
    let forbidden = forbidden_class(directory::Website::TEXT);
    string(
        &format!(
            r"^\s*https?://([^\s{forbidden}/?#@\[\]:]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{{1,5}})?([/?#][^\s{forbidden}]*)?\s*$"
        ),
        Some(directory::Website::MAX_CHARS),
    )
}

/// The schema of an issuer URL: https and a host, or http to localhost; no whitespace, control
/// characters, query or fragment.
fn issuer() -> ObjectBuilder {
    let path = r"(/[^\s\x00-\x1F\x7F-\x9F?#]*)?";
    string(
        &format!(
            r"^(https://[^\s\x00-\x1F\x7F-\x9F/?#@:]+(:[0-9]{{1,5}})?|http://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{{1,5}})?){path}$"
        ),
        Some(user_identity::ISSUER_MAX_CHARS),
    )
}

/// The schema of a subject: one line under the subject's text rule, starting and ending with a
/// character other than whitespace.
fn subject() -> ObjectBuilder {
    let forbidden = forbidden_class(user_identity::SUBJECT);
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(user_identity::SUBJECT.max_chars))
        .pattern(Some(format!(
            r"^[^\s{forbidden}]([^{forbidden}]*[^\s{forbidden}])?$"
        )))
}

/// The characters `rule` refuses, as the inside of a regular-expression character class.
fn forbidden_class(rule: TextRule) -> String {
    rule.forbidden()
        .into_iter()
        .map(|(a, b)| {
            if a == b {
                escape(a)
            } else {
                format!("{}-{}", escape(a), escape(b))
            }
        })
        .collect()
}

/// The schema of free text under `rule`: its bounds, and a pattern that refuses what the rule
/// refuses (a character outside the allowed set, or nothing but whitespace).
pub fn text(rule: TextRule) -> ObjectBuilder {
    let forbidden = forbidden_class(rule);
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(rule.max_chars))
        .pattern(Some(format!(
            r"^[^{forbidden}]*[^\s{forbidden}][^{forbidden}]*$"
        )))
}

/// A character as a regular-expression escape both ECMAScript and Python read the same way.
fn escape(c: char) -> String {
    match u32::from(c) {
        n @ 0..=0xFF => format!(r"\x{n:02X}"),
        n => format!(r"\u{n:04X}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_patterns_come_from_the_domain_rule() {
        let schema = serde_json::to_value(text(person::NAME).build()).unwrap_or_default();
        assert_eq!(schema["maxLength"], 100);
        assert_eq!(
            schema["pattern"],
            r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*$"
        );
        let lines = serde_json::to_value(text(referral::SUMMARY).build()).unwrap_or_default();
        assert_eq!(lines["maxLength"], 4000);
        assert!(
            lines["pattern"]
                .as_str()
                .is_some_and(|p| p.starts_with(r"^[^\x00-\x08\x0B-\x0C\x0E-\x1F"))
        );
    }
}
