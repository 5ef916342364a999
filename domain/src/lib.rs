//! Linkwell's domain: the facts and rules of social prescribing as plain Rust values.
//!
//! Everything here is pure: no I/O, no clock (callers pass `today`), no web or database types.
//! Values are parsed once at the edge ("parse, don't validate"): holding a [`NhsNumber`] or a
//! [`Postcode`] means it is valid and normalised.

pub mod action_link;
pub mod api_client;
mod codes;
pub mod community_work;
pub mod connection;
pub mod consent;
pub mod directory;
pub mod group_session;
pub mod invalid;
pub mod lifecycle;
pub mod need;
pub mod nhs_number;
pub mod opening_hours;
pub mod organisation;
pub mod outcome;
pub mod person;
pub mod plan;
pub mod postcode;
pub mod privacy;
pub mod referral;
pub mod report;
pub mod role;
pub mod self_referral;
pub mod session;
pub mod tally;
pub mod team;
pub mod text;
pub mod user;
pub mod user_identity;

pub use api_client::{ApiClient, ClientCredential, NewApiClient};
pub use codes::UnknownCode;
pub use connection::{
    Connection, ConnectionOutcome, ConnectionReasonCode, ConnectionStatus, SharedField,
};
pub use directory::{Capacity, Service, ServiceStatus};
pub use group_session::{Attendance, Attendee, GroupSession, GroupSessionKind, GroupSessionStatus};
pub use invalid::Invalid;
pub use lifecycle::{ClosureReason, GpRecordCode, Move, StatusChange};
pub use need::{Need, NeedCode};
pub use nhs_number::NhsNumber;
pub use organisation::{Network, NewOrganisation, OdsCode, Organisation, OrganisationKind};
pub use person::{
    ContactDetail, DateOfBirth, DuplicateReason, Email, Person, PersonRecord, Phone,
    PreferredContact,
};
pub use plan::{Goal, GoalStatus, GoalStatusChange, Plan, ProgressNote};
pub use postcode::Postcode;
pub use referral::{NewReferral, Reason, Reasons, Referral, ReferralSource, ReferralStatus};
pub use role::Role;
pub use session::{Session, SessionKind, SessionMode, SessionStatus};
pub use team::{Team, TeamMove};
pub use user::{NewUser, User};
pub use user_identity::{Issuer, UserIdentity};
