//! Building audit rows for accesses to personal data. Every referral read or write, allowed
//! or refused, leaves one row, written in the same transaction as the change it records.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use linkwell_persistence::DbConnection;
use linkwell_persistence::audit::{self, AuditEvent, Concerns};
use uuid::Uuid;

use linkwell_domain::{Invalid, Role, privacy};
use linkwell_persistence::erasure::Standing;

use crate::access::Operation;
use crate::audit_writer::Sink;
use crate::auth::Caller;
use crate::clock;
use crate::db;
use crate::error::ApiError;
use crate::middleware::RequestId;
use crate::state::AppState;

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Replayed,
    Forbidden,
    NotFound,
    Conflict,
    Rejected,
    /// Asked for what was erased (see `docs/privacy.md`).
    Gone,
    /// No token, or one that did not verify (401): the caller is known only by address.
    Unauthenticated,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Replayed => "replayed",
            Outcome::Forbidden => "forbidden",
            Outcome::NotFound => "not_found",
            Outcome::Conflict => "conflict",
            Outcome::Rejected => "rejected",
            Outcome::Gone => "gone",
            Outcome::Unauthenticated => "unauthenticated",
        }
    }
}

/// A request refused by a rule the caller must hear about (a duplicate, a stale version, a
/// refused transition): a value, not an error, so the transaction that audits it commits.
#[derive(Debug)]
pub struct Refusal {
    pub error: ApiError,
    /// The resource it is about, when not the one addressed (an existing duplicate).
    pub about: Option<Uuid>,
    pub outcome: Outcome,
}

/// Why a write stopped: refused by a rule (audited, and the audit row commits) or failed
/// (rolled back). `?` turns either into it, so a handler's write reads straight through.
#[derive(Debug)]
pub enum Stop {
    Refused(Refusal),
    Failed(ApiError),
}

impl From<Refusal> for Stop {
    fn from(refusal: Refusal) -> Self {
        Stop::Refused(refusal)
    }
}

impl From<ApiError> for Stop {
    fn from(error: ApiError) -> Self {
        Stop::Failed(error)
    }
}

impl From<linkwell_persistence::StoreError> for Stop {
    fn from(error: linkwell_persistence::StoreError) -> Self {
        Stop::Failed(error.into())
    }
}

impl Refusal {
    /// Another change got there first: the version read is no longer current.
    pub fn stale() -> Self {
        Self::conflict(ApiError::PreconditionFailed)
    }

    /// A unique rule: `existing` already holds what was asked for.
    pub fn duplicate(existing: Uuid, detail: String) -> Self {
        Self {
            error: ApiError::Duplicate {
                detail,
                existing_id: existing.to_string(),
            },
            about: Some(existing),
            outcome: Outcome::Conflict,
        }
    }

    /// A rule about one body member that only the stored data can check.
    pub fn invalid(pointer: &str, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            error: ApiError::Validation(vec![crate::error::FieldError::at(pointer, code, message)]),
            about: None,
            outcome: Outcome::Rejected,
        }
    }

    /// Rules across members that only the stored data can check, each named with its member.
    pub fn broken(rules: Vec<(&'static str, linkwell_domain::Invalid)>) -> Self {
        Self {
            error: ApiError::members(rules),
            about: None,
            outcome: Outcome::Rejected,
        }
    }

    /// Nothing there, or nothing this caller may see.
    pub fn not_found() -> Self {
        Self {
            error: ApiError::NotFound,
            about: None,
            outcome: Outcome::NotFound,
        }
    }

    /// Erased: said to administrators only (everyone else hears [`Refusal::not_found`]).
    pub fn gone() -> Self {
        Self {
            error: erased(),
            about: None,
            outcome: Outcome::Gone,
        }
    }

    /// A conflict with the resource's state or version.
    pub fn conflict(error: ApiError) -> Self {
        Self {
            error,
            about: None,
            outcome: Outcome::Conflict,
        }
    }

    /// A domain rule about where a record stands refused the request (409 with its code).
    pub fn state(invalid: Invalid) -> Self {
        Self::conflict(ApiError::StateConflict {
            code: invalid.code,
            detail: invalid.message.into_owned(),
        })
    }

    /// Refuses a change to a record that does not stand [`Standing::Current`]: an erased
    /// person's record is not found, an anonymised referral takes nothing more (409
    /// `referral_anonymised`).
    pub fn unless_current(standing: Standing) -> Result<(), Self> {
        match standing {
            Standing::Current => Ok(()),
            Standing::Erased => Err(Self::not_found()),
            Standing::Anonymised => Err(Self::state(privacy::anonymised())),
        }
    }
}

/// The answer to an administrator asking for an erased person's data.
pub fn erased() -> ApiError {
    ApiError::Gone {
        detail: "this person's personal data was erased".into(),
    }
}

/// Who is acting, in which request, on which operation: everything an audit row needs but
/// the resource and the outcome. Made by [`crate::access::Allowed`], which knows the operation.
#[derive(Debug, Clone)]
pub struct Actor {
    pub caller: Caller,
    pub request_id: String,
    /// What is being done, and to what kind of resource.
    pub operation: Operation,
    /// Nobody authenticated: a public operation without a token, named by its address.
    pub anonymous: bool,
    /// The record the request names in its path (`/v1/referrals/{id}`), if any: a refusal
    /// that names no other record is recorded against it.
    pub addressed: Option<Uuid>,
    /// Where rows written outside a transaction of the handler's go (reads, refusals).
    pub sink: Sink,
    /// Whom the addressed record concerns, as the access gate found it: a read's row needs
    /// no second look-up.
    pub addressed_concerns: Option<Concerns>,
}

impl Actor {
    /// Someone without a token, on a public operation (`subject` names where they came from).
    pub fn anonymous(
        subject: String,
        request_id: String,
        operation: Operation,
        sink: Sink,
    ) -> Self {
        Self {
            // A public operation never consults the role: see `role`.
            caller: Caller {
                sub: subject,
                role: Role::Referrer,
                org: None,
            },
            request_id,
            operation,
            anonymous: true,
            addressed: None,
            sink,
            addressed_concerns: None,
        }
    }

    /// The caller's role; `None` when nobody authenticated.
    pub fn role(&self) -> Option<Role> {
        (!self.anonymous).then_some(self.caller.role)
    }

    /// A row about `resource_id`, naming the person and referral it concerns: those of the
    /// record itself, else of the record the path names (the referral a list or a refused
    /// creation is under), looked up in the same transaction as the change it records.
    fn event(
        &self,
        conn: &mut DbConnection,
        resource_id: Option<Uuid>,
        outcome: Outcome,
    ) -> Result<AuditEvent, ApiError> {
        let concerns = match resource_id.or(self.addressed) {
            Some(id) => audit::concerning(conn, self.operation.resource, id)?,
            None => Concerns::default(),
        };
        Ok(self.event_concerning(resource_id, outcome, concerns))
    }

    fn event_concerning(
        &self,
        resource_id: Option<Uuid>,
        outcome: Outcome,
        concerns: Concerns,
    ) -> AuditEvent {
        AuditEvent {
            id: Uuid::now_v7(),
            occurred_at: clock::now(),
            actor_sub: self.caller.sub.clone(),
            actor_role: self.role().map_or("anonymous", |r| r.as_str()).to_owned(),
            actor_org_id: self.caller.org,
            action: self.operation.action.to_owned(),
            resource_type: self.operation.resource.to_owned(),
            resource_id,
            resource_ids: Vec::new(),
            outcome: outcome.as_str().to_owned(),
            request_id: self.request_id.clone(),
            person_id: concerns.person_id,
            referral_id: concerns.referral_id,
        }
    }

    /// Appends a row inside the caller's transaction, for operations on personal data (see
    /// `access`); other operations leave no row.
    pub fn record(
        &self,
        conn: &mut DbConnection,
        resource_id: Option<Uuid>,
        outcome: Outcome,
    ) -> Result<(), ApiError> {
        if !self.operation.audited {
            return Ok(());
        }
        let event = self.event(conn, resource_id, outcome)?;
        Ok(audit::record(conn, &event)?)
    }

    /// Appends a success row on `resource_id`, which the caller knows `concerns` (it just
    /// made it), inside the caller's transaction.
    pub fn record_concerning(
        &self,
        conn: &mut DbConnection,
        resource_id: Uuid,
        concerns: Concerns,
    ) -> Result<(), ApiError> {
        if !self.operation.audited {
            return Ok(());
        }
        let event = self.event_concerning(Some(resource_id), Outcome::Success, concerns);
        Ok(audit::record(conn, &event)?)
    }

    /// Appends a success row on `resource_id` inside the caller's transaction that also names
    /// the records the act changed with it (the connections a withdrawal of consent cancelled).
    pub fn record_naming(
        &self,
        conn: &mut DbConnection,
        resource_id: Uuid,
        also: Vec<Uuid>,
    ) -> Result<(), ApiError> {
        if !self.operation.audited {
            return Ok(());
        }
        let mut event = self.event(conn, Some(resource_id), Outcome::Success)?;
        event.resource_ids = also;
        Ok(audit::record(conn, &event)?)
    }

    /// Hands a row to the audit writer, for reads: the query runs without a transaction (nor,
    /// on SQLite, the write lock), and the response waits for the row's commit
    /// (`audit_writer`), so nothing is returned to the caller unless the row committed.
    pub fn record_alone(
        &self,
        conn: &mut DbConnection,
        resource_id: Option<Uuid>,
        outcome: Outcome,
    ) -> Result<(), ApiError> {
        if !self.operation.audited {
            return Ok(());
        }
        let known = match (resource_id, self.addressed_concerns) {
            (None, Some(known)) => Some(known),
            (Some(id), Some(known)) if Some(id) == self.addressed => Some(known),
            _ => None,
        };
        let event = match known {
            Some(concerns) => self.event_concerning(resource_id, outcome, concerns),
            None => self.event(conn, resource_id, outcome)?,
        };
        self.sink.write(event)
    }

    /// Records a read of `id` through the audit writer: a success when it was `found`, else
    /// not found.
    pub fn record_read(
        &self,
        conn: &mut DbConnection,
        id: Uuid,
        found: bool,
    ) -> Result<(), ApiError> {
        let outcome = if found {
            Outcome::Success
        } else {
            Outcome::NotFound
        };
        self.record_alone(conn, Some(id), outcome)
    }

    /// Records a read of `id` that `refusal` refused, through the audit writer, and gives the
    /// refusal's error to answer with.
    pub fn refuse_read(&self, conn: &mut DbConnection, id: Uuid, refusal: Refusal) -> ApiError {
        match self.record_alone(conn, Some(refusal.about.unwrap_or(id)), refusal.outcome) {
            Ok(()) => refusal.error,
            Err(failed) => failed,
        }
    }

    /// For a list under a parent resource: when the parent `id` does not `exist` (for this
    /// caller), records the attempt and refuses it as not found.
    pub fn require_parent(
        &self,
        conn: &mut DbConnection,
        id: Uuid,
        exists: bool,
    ) -> Result<(), ApiError> {
        if exists {
            return Ok(());
        }
        self.record_alone(conn, Some(id), Outcome::NotFound)?;
        Err(ApiError::NotFound)
    }

    /// Records a list through the audit writer, naming every record it shows; it concerns
    /// the referral it is under, if any (a list across referrals concerns no one in
    /// particular: its rows name what it showed).
    pub fn record_list(&self, conn: &mut DbConnection, shown: Vec<Uuid>) -> Result<(), ApiError> {
        let mut event = match self.addressed_concerns {
            Some(concerns) => self.event_concerning(None, Outcome::Success, concerns),
            None => self.event(conn, None, Outcome::Success)?,
        };
        event.resource_ids = shown;
        self.sink.write(event)
    }

    /// Records a read of the trail itself through the audit writer: it concerns the person
    /// and referral it was filtered by.
    pub fn record_trail_read(&self, concerns: Concerns) -> Result<(), ApiError> {
        self.sink
            .write(self.event_concerning(None, Outcome::Success, concerns))
    }

    /// Records a refused attempt (its row committed first), then returns the refusal.
    pub async fn refuse(&self, state: &web::Data<AppState>, error: ApiError) -> ApiError {
        self.refuse_as(state, error, Outcome::Forbidden).await
    }

    /// Records a refused attempt, and waits for the row to commit.
    pub async fn record_refusal(
        &self,
        state: &web::Data<AppState>,
        outcome: Outcome,
    ) -> Result<(), ApiError> {
        if !self.operation.audited {
            return Ok(());
        }
        let actor = self.clone();
        let event = db::run(state, move |conn| {
            actor.event(conn, actor.addressed, outcome)
        })
        .await?;
        self.sink.write_now(event).await
    }

    /// [`Actor::refuse`], saying how it was refused.
    pub async fn refuse_as(
        &self,
        state: &web::Data<AppState>,
        error: ApiError,
        outcome: Outcome,
    ) -> ApiError {
        match self.record_refusal(state, outcome).await {
            Ok(()) => error,
            Err(failure) => failure,
        }
    }
}

impl FromRequest for RequestId {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<RequestId>()
                .cloned()
                .ok_or_else(|| ApiError::Internal("request id missing".into())),
        )
    }
}
