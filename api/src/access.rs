//! Who may do what: one table for every protected operation. A handler takes an
//! [`Allowed<Op>`] argument, which authenticates the caller and checks the role before the body
//! is even read, and the OpenAPI document is annotated from the same table (`x-roles`), so the
//! spec cannot drift from what the code enforces.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use linkwell_domain::Role;

use crate::audit::{self, Actor, Outcome};
use crate::audit_writer::Sink;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ValidJson;
use crate::middleware::RequestId;
use crate::state::AppState;
use crate::{db, ratelimit};
use linkwell_persistence::audit::{self as persistence_audit, Concerns};

/// A protected operation and the roles allowed to perform it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// The OpenAPI `operationId`.
    pub id: &'static str,
    pub roles: &'static [Role],
    /// The kind of resource it acts on, as audit rows name it: `referral`.
    pub resource: &'static str,
    /// What it does, as audit rows name it: `referral.read`.
    pub action: &'static str,
    /// Operations on personal data are audited, refusals included.
    pub audited: bool,
}

/// A marker type naming one operation, for [`Allowed`].
pub trait Guarded {
    const OPERATION: Operation;
}

macro_rules! operations {
    ($(
        $(#[$doc:meta])*
        $marker:ident = $id:literal, [$($role:ident),*], $resource:ident.$verb:ident
            $(, $audited:ident)?;
    )+) => {
        $(
            $(#[$doc])*
            #[derive(Debug)]
            pub struct $marker;
            impl Guarded for $marker {
                const OPERATION: Operation = Operation {
                    id: $id,
                    roles: &[$(Role::$role),*],
                    resource: stringify!($resource),
                    action: concat!(stringify!($resource), ".", stringify!($verb)),
                    audited: operations!(@audited $($audited)?),
                };
            }
        )+
        /// Every protected operation.
        pub const ALL: &[Operation] = &[$(<$marker as Guarded>::OPERATION),+];
    };
    (@audited audited) => { true };
    (@audited) => { false };
}

// Each line: marker = operationId, roles, resource.verb (as audit rows name them), and
// `audited` for operations on personal data (refusals are audited too).
operations! {
    /// Register an organisation.
    CreateOrganisation = "create_organisation", [Admin], organisation.create;
    /// List organisations.
    ListOrganisations = "list_organisations", [Admin, Coordinator], organisation.list;
    /// Read one organisation.
    GetOrganisation = "get_organisation", [Admin, Coordinator], organisation.read;
    /// Make a team.
    CreateTeam = "create_team", [Admin], team.create;
    /// List teams.
    ListTeams = "list_teams", [Admin, Coordinator], team.list;
    /// Read one team.
    GetTeam = "get_team", [Admin, Coordinator], team.read;
    /// List a team's members.
    ListTeamMembers = "list_team_members", [Admin, Coordinator], team.list_members;
    /// Add a link worker to a team.
    AddTeamMember = "add_team_member", [Admin], team.add_member;
    /// Take a link worker out of a team.
    RemoveTeamMember = "remove_team_member", [Admin], team.remove_member;
    /// Make a network of organisations.
    CreateNetwork = "create_network", [Admin], network.create;
    /// List networks.
    ListNetworks = "list_networks", [Admin, Coordinator, Commissioner], network.list;
    /// Read one network.
    GetNetwork = "get_network", [Admin, Coordinator, Commissioner], network.read;
    /// Put an organisation in a network.
    SetOrganisationNetwork = "set_organisation_network", [Admin], organisation.set_network;
    /// Take an organisation out of its network.
    ClearOrganisationNetwork = "clear_organisation_network", [Admin], organisation.clear_network;
    /// Register a user.
    CreateUser = "create_user", [Admin], user.create;
    /// List users.
    ListUsers = "list_users", [Admin, Coordinator], user.list;
    /// Read one user.
    GetUser = "get_user", [Admin, Coordinator], user.read;
    /// Stop a user's tokens working.
    DeactivateUser = "deactivate_user", [Admin], user.deactivate;
    /// Let a deactivated user back in.
    ReactivateUser = "reactivate_user", [Admin], user.reactivate;
    /// Link a person's identity at the OpenID Connect provider to a user.
    CreateUserIdentity = "create_user_identity", [Admin], user_identity.create, audited;
    /// List the provider identities linked to a user.
    ListUserIdentities = "list_user_identities", [Admin], user_identity.list;
    /// Read one provider identity linked to a user.
    GetUserIdentity = "get_user_identity", [Admin], user_identity.read;
    /// Unlink a provider identity: the provider's tokens for it stop working.
    DeleteUserIdentity = "delete_user_identity", [Admin], user_identity.delete, audited;
    /// Get a token for a registered system (OAuth 2 client credentials; open to anyone, the
    /// client authenticates itself). Audited: who got a token, and every refused attempt.
    CreateToken = "create_token", [], token.issue, audited;
    /// Register a system that calls the API on its own (OAuth 2 client credentials).
    CreateApiClient = "create_api_client", [Admin], api_client.create, audited;
    /// List registered systems.
    ListApiClients = "list_api_clients", [Admin], api_client.list;
    /// Read one registered system.
    GetApiClient = "get_api_client", [Admin], api_client.read;
    /// Revoke a system: no new tokens, and its tokens stop working.
    RevokeApiClient = "revoke_api_client", [Admin], api_client.revoke, audited;
    /// Read a person's record and referrals.
    GetPerson = "get_person", [Coordinator, Admin], person.read, audited;
    /// Look people up by NHS number, or family name and date of birth.
    ListPeople = "list_people", [Coordinator, Admin], person.list, audited;
    /// Correct a person's details.
    UpdatePerson = "update_person", [Coordinator, Admin], person.update, audited;
    /// Merge a duplicate record into this one.
    MergePeople = "merge_people", [Coordinator, Admin], person.merge, audited;
    /// Say a flagged record is not a duplicate.
    DismissDuplicate = "dismiss_duplicate", [Coordinator, Admin], person.dismiss_duplicate, audited;
    /// Refer yourself, or someone you know (open to anyone).
    CreateSelfReferral = "create_self_referral", [], referral.self_refer, audited;
    /// Send a referral.
    CreateReferral = "create_referral", [Referrer, Partner, Coordinator, Admin], referral.create, audited;
    /// List referrals (a referrer or partner: those its organisation sent).
    ListReferrals = "list_referrals", [Referrer, Partner, Coordinator, Admin], referral.list, audited;
    /// Read one referral.
    GetReferral = "get_referral", [Referrer, Partner, Coordinator, Admin], referral.read, audited;
    /// Move a referral through its lifecycle (referrers and partners only withdraw their own).
    TransitionReferral = "transition_referral", [Referrer, Partner, Coordinator, Admin], referral.transition, audited;
    /// Correct a referral's summary, reasons or first contact.
    UpdateReferral = "update_referral", [Coordinator, Admin], referral.update, audited;
    /// Assign a referral to a link worker.
    AssignReferral = "assign_referral", [Coordinator, Admin], referral.assign, audited;
    /// Hand a referral over to another team.
    HandOverReferral = "hand_over_referral", [Coordinator, Admin], referral.hand_over, audited;
    /// Take a referral off a link worker's caseload.
    UnassignReferral = "unassign_referral", [Coordinator, Admin], referral.unassign, audited;
    /// Record a session with the person.
    CreateSession = "create_session", [Coordinator, Admin], session.create, audited;
    /// List a referral's sessions.
    ListReferralSessions = "list_referral_sessions", [Coordinator, Admin], session.list, audited;
    /// Read one session.
    GetSession = "get_session", [Coordinator, Admin], session.read, audited;
    /// Correct a session or record how it went.
    UpdateSession = "update_session", [Coordinator, Admin], session.update, audited;
    /// Record a group session.
    CreateGroupSession = "create_group_session", [Coordinator, Admin], group_session.create;
    /// List group sessions.
    ListGroupSessions = "list_group_sessions", [Coordinator, Admin], group_session.list;
    /// Read one group session.
    GetGroupSession = "get_group_session", [Coordinator, Admin], group_session.read;
    /// Correct a group session, or record that it was held or cancelled.
    UpdateGroupSession = "update_group_session", [Coordinator, Admin], group_session.update;
    /// Book a person (by referral) on a group session.
    AddGroupAttendee = "add_group_attendee", [Coordinator, Admin], group_session.add_attendee, audited;
    /// List the people booked on a group session.
    ListGroupAttendees = "list_group_attendees", [Coordinator, Admin], group_session.list_attendees, audited;
    /// Mark whether a person booked on a group session came.
    MarkGroupAttendance = "mark_group_attendance", [Coordinator, Admin], group_session.mark_attendance, audited;
    /// Take a person off a group session.
    RemoveGroupAttendee = "remove_group_attendee", [Coordinator, Admin], group_session.remove_attendee, audited;
    /// Record time spent starting or supporting a community group.
    CreateCommunityWork = "create_community_work", [Coordinator, Admin], community_work.create;
    /// List community work.
    ListCommunityWork = "list_community_work", [Coordinator, Admin], community_work.list;
    /// Read one piece of community work.
    GetCommunityWork = "get_community_work", [Coordinator, Admin], community_work.read;
    /// Read a referral's wellbeing plan.
    GetPlan = "get_plan", [Coordinator, Admin], plan.read, audited;
    /// Write or replace a referral's wellbeing plan.
    PutPlan = "put_plan", [Coordinator, Admin], plan.write, audited;
    /// Add a goal to a referral's plan.
    CreateGoal = "create_goal", [Coordinator, Admin], goal.create, audited;
    /// List a referral's goals.
    ListGoals = "list_goals", [Coordinator, Admin], goal.list, audited;
    /// Read one goal and its history.
    GetGoal = "get_goal", [Coordinator, Admin], goal.read, audited;
    /// Change a goal or its status.
    UpdateGoal = "update_goal", [Coordinator, Admin], goal.update, audited;
    /// Search the directory of services (open to anyone).
    ListServices = "list_services", [], service.list;
    /// List the specific needs under the reasons (open to anyone).
    ListNeeds = "list_needs", [], need.list;
    /// Read one directory service (open to anyone).
    GetService = "get_service", [], service.read;
    /// Liveness (open to anyone).
    Live = "live", [], health.live;
    /// Readiness (open to anyone).
    Ready = "ready", [], health.ready;
    /// The public keys that verify Linkwell's tokens (open to anyone).
    PublicKeys = "jwks", [], keys.read;
    /// Add a service to the directory.
    CreateService = "create_service", [Coordinator, Admin], service.create;
    /// Correct a directory service, or its status and capacity.
    UpdateService = "update_service", [Coordinator, Admin], service.update;
    /// Connect the person to a partner or a directory service.
    CreateConnection = "create_connection", [Coordinator, Admin], connection.create, audited;
    /// List a referral's connections.
    ListReferralConnections = "list_referral_connections", [Coordinator, Admin], connection.list, audited;
    /// List connections (a partner: those addressed to it), or poll for their changes.
    ListConnections = "list_connections", [Coordinator, Admin, Partner], connection.list, audited;
    /// Read one connection.
    GetConnection = "get_connection", [Coordinator, Admin, Partner], connection.read, audited;
    /// Move a connection along (partners answer and report progress; staff cancel).
    TransitionConnection = "transition_connection", [Coordinator, Admin, Partner], connection.transition, audited;
    /// Write to the other side about a connection.
    CreateConnectionNote = "create_connection_note", [Coordinator, Admin, Partner], connection.add_note, audited;
    /// Issue a one-time action link for a connection (for a receiver without a login).
    CreateActionLink = "create_action_link", [Coordinator, Admin], connection.issue_action_link, audited;
    /// Read a connection through a one-time action link (open to the link's holder).
    ReadActionLink = "read_action_link", [], connection.read_by_link, audited;
    /// Answer a connection through a one-time action link (open to the link's holder).
    AnswerActionLink = "answer_action_link", [], connection.answer_by_link, audited;
    /// Read the notes about a connection.
    ListConnectionNotes = "list_connection_notes", [Coordinator, Admin, Partner], connection.read_notes, audited;
    /// Read the wellbeing plan a connection shares (what matters, strengths, agreed).
    GetSharedPlan = "get_shared_plan", [Coordinator, Admin, Partner], connection.read_plan, audited;
    /// List the goals of the plan a connection shares.
    ListSharedGoals = "list_shared_goals", [Coordinator, Admin, Partner], connection.list_plan_goals, audited;
    /// Add a progress note to a goal of the plan a connection shares.
    CreateProgressNote = "create_progress_note", [Coordinator, Admin, Partner], connection.add_progress_note, audited;
    /// List the progress notes added through a connection.
    ListConnectionProgressNotes = "list_connection_progress_notes", [Coordinator, Admin, Partner], connection.read_progress_notes, audited;
    /// List a goal's progress notes, through every connection.
    ListGoalProgressNotes = "list_goal_progress_notes", [Coordinator, Admin], goal.read_progress_notes, audited;
    /// Record a wellbeing measure.
    CreateOutcome = "create_outcome", [Coordinator, Admin], outcome.create, audited;
    /// List a referral's measures and their change from baseline.
    ListOutcomes = "list_outcomes", [Coordinator, Admin], outcome.list, audited;
    /// Read one measure.
    GetOutcome = "get_outcome", [Coordinator, Admin], outcome.read, audited;
    /// Mark a mistyped measure entered in error.
    EnterOutcomeInError = "enter_outcome_in_error", [Coordinator, Admin], outcome.enter_in_error, audited;
    /// Read the activity report (aggregate figures; small numbers suppressed for commissioners).
    ActivityReport = "get_activity_report", [Admin, Commissioner], report.activity;
    /// Read caseloads and the waiting list.
    CaseloadReport = "get_caseload_report", [Admin, Coordinator], report.caseload;
    /// Read a referral's changes of status.
    GetReferralHistory = "get_referral_history", [Coordinator, Admin], referral.history, audited;
    /// Record the person's consent given or withdrawn (a withdrawal cancels open connections).
    RecordConsent = "record_consent", [Coordinator, Admin], referral.record_consent, audited;
    /// Read a referral's consent record.
    ListConsent = "list_consent", [Coordinator, Admin], referral.read_consent, audited;
    /// Erase a person's personal data (UK GDPR article 17); report totals stay as they were.
    ErasePerson = "erase_person", [Admin], person.erase, audited;
    /// Export everything held about a person (a subject access request), accesses included.
    ExportPerson = "export_person", [Admin], person.export, audited;
    /// Read the audit trail (itself audited: it discloses who was seen, and by whom).
    ListAuditEvents = "list_audit_events", [Admin], audit.list, audited;
}

/// Refuses a request about an erased person's data, and audits the attempt: an administrator's
/// read hears 410 Gone; anything else, and anyone else, 404 as if it had never existed (a
/// partner or referrer must learn nothing of an erased person). The erasure itself answers
/// a second attempt on its own. Otherwise says whom the record concerns, for the audit row.
async fn refuse_if_erased(
    state: &web::Data<AppState>,
    actor: &Actor,
    id: uuid::Uuid,
    read: bool,
) -> Result<Concerns, ApiError> {
    let gone = read && actor.caller.role == Role::Admin;
    let actor = actor.clone();
    let (concerns, erased) = db::run(state, move |conn| {
        let (concerns, erased) =
            persistence_audit::concerning_with_erasure(conn, actor.operation.resource, id)?;
        if erased {
            let outcome = if gone {
                Outcome::Gone
            } else {
                Outcome::NotFound
            };
            let mut actor = actor;
            actor.addressed_concerns = Some(concerns);
            actor.record_alone(conn, Some(id), outcome)?;
        }
        Ok((concerns, erased))
    })
    .await?;
    match (erased, gone) {
        (false, _) => Ok(concerns),
        (true, true) => Err(audit::erased()),
        (true, false) => Err(ApiError::NotFound),
    }
}

impl Operation {
    /// Open to anyone, without a token (no roles listed).
    pub const fn is_public(&self) -> bool {
        self.roles.is_empty()
    }
}

/// The entry for an `operationId`.
pub fn find(id: &str) -> Option<&'static Operation> {
    ALL.iter().find(|op| op.id == id)
}

/// Proof that the caller is authenticated and its role may perform `Op`.
#[derive(Debug)]
pub struct Allowed<Op> {
    pub actor: Actor,
    operation: PhantomData<Op>,
}

impl<Op: Guarded + 'static> FromRequest for Allowed<Op> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let operation = Op::OPERATION;
        let caller = Caller::from_request(req, payload);
        let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
        let state = req.app_data::<web::Data<AppState>>().cloned();
        // Every route that names a record calls its path parameter `id`: a refusal's audit
        // row names the record that was asked for.
        let addressed = req
            .match_info()
            .get("id")
            .and_then(|id| uuid::Uuid::parse_str(id).ok());
        let req = req.clone();
        Box::pin(async move {
            let caller = match caller.await {
                Ok(caller) => caller,
                Err(error) => {
                    let refused = (request_id, addressed);
                    return Err(unverified(&req, state.as_ref(), operation, refused, error));
                }
            };
            // The allowance is spent before the role is checked: refusals count too.
            if let Some(state) = &state {
                ratelimit::charge_caller(&req, &state.callers, &caller)?;
            }
            let mut actor = Actor {
                caller,
                request_id: request_id.unwrap_or_default(),
                operation,
                anonymous: false,
                addressed,
                sink: Sink::of(&req)?,
                addressed_concerns: None,
            };
            if operation.roles.contains(&actor.caller.role) {
                if let (Some(state), Some(id)) = (&state, addressed)
                    && operation.audited
                    && operation.id != ErasePerson::OPERATION.id
                {
                    let read = req.method() == actix_web::http::Method::GET;
                    actor.addressed_concerns =
                        Some(refuse_if_erased(state, &actor, id, read).await?);
                }
                return Ok(Self {
                    actor,
                    operation: PhantomData,
                });
            }
            match state {
                Some(state) if operation.audited => {
                    Err(actor.refuse(&state, ApiError::Forbidden).await)
                }
                _ => Err(ApiError::Forbidden),
            }
        })
    }
}

/// A request whose token was refused (401) has no caller to charge: it spends its client
/// address's allowance for refused tokens (`ratelimit::RefusedLimits`), so guessing tokens is
/// limited too and the 401 carries the `RateLimit` fields. Past the allowance it is 429.
fn refused_token(
    req: &HttpRequest,
    state: Option<&web::Data<AppState>>,
    error: ApiError,
) -> ApiError {
    let (Some(state), ApiError::Unauthorized { .. }) = (state, &error) else {
        return error;
    };
    let Some(client) = state.public.client(req) else {
        return error;
    };
    match ratelimit::charge_refused(req, &state.refused, client) {
        Err(limited) => limited,
        Ok(()) => error,
    }
}

/// A token that did not verify (or none, where one is needed): the refusal spends the address's
/// allowance for refused tokens ([`refused_token`]); once admitted, an audited operation
/// records it like any other refusal, one row naming the address (the token names nobody it
/// can be trusted to). Past the allowance it is 429 and leaves no row, so guessing cannot
/// flood the trail.
///
/// The row is written beside the answer, not before it: nothing was disclosed, and actix
/// extracts a handler's arguments concurrently, so a 401 that waited on the database would
/// lose the race to another argument's 400 (a bad query), telling a caller without a token
/// how the query is read.
fn unverified(
    req: &HttpRequest,
    state: Option<&web::Data<AppState>>,
    operation: Operation,
    (request_id, addressed): (Option<String>, Option<uuid::Uuid>),
    error: ApiError,
) -> ApiError {
    let error = refused_token(req, state, error);
    let (Some(state), ApiError::Unauthorized { .. }) = (state, &error) else {
        return error;
    };
    if !operation.audited {
        return error;
    }
    let Some(client) = state.public.client(req) else {
        return error;
    };
    let Ok(sink) = Sink::of(req) else {
        return error;
    };
    let mut actor = Actor::anonymous(
        format!("anonymous@{client}"),
        request_id.unwrap_or_default(),
        operation,
        sink,
    );
    actor.addressed = addressed;
    let state = state.clone();
    actix_web::rt::spawn(async move {
        if let Err(failure) = actor.record_refusal(&state, Outcome::Unauthenticated).await {
            log::warn!("recording a refused token for {}: {failure}", operation.id);
        }
    });
    error
}

/// A caller of an operation open to anyone: no token, admitted by the per-address rate limit
/// (see `ratelimit`), audited as `anonymous@ADDRESS`.
#[derive(Debug)]
pub struct Public<Op> {
    pub actor: Actor,
    operation: PhantomData<Op>,
}

impl<Op: Guarded + 'static> FromRequest for Public<Op> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(admit::<Op>(req, Allowance::Public))
    }
}

/// Which per-address allowance a request without a token spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Allowance {
    /// An operation open to anyone: a small quota per address and operation.
    Public,
    /// A probe or the key set, which orchestrators and verifiers poll: their own quota per
    /// address and operation.
    Probe,
}

fn admit<Op: Guarded>(req: &HttpRequest, allowance: Allowance) -> Result<Public<Op>, ApiError> {
    let operation = Op::OPERATION;
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal("application state missing".into()))?;
    let client = state
        .public
        .client(req)
        .ok_or_else(|| ApiError::Internal("no peer address".into()))?;
    match allowance {
        Allowance::Public => state.public.admit(req, operation.id, client)?,
        Allowance::Probe => ratelimit::charge_probe(req, &state.probes, operation.id, client)?,
    }
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    Ok(Public {
        actor: Actor::anonymous(
            format!("anonymous@{client}"),
            request_id.unwrap_or_default(),
            operation,
            Sink::of(req)?,
        ),
        operation: PhantomData,
    })
}

/// A reader of something open to anyone (the directory): with a bearer token it must be valid
/// (401 otherwise) and spends the caller's own allowance; without one, the per-address rate
/// limit admits it.
#[derive(Debug)]
pub struct Open<Op> {
    /// The caller with its token, else the client address as `anonymous@ADDRESS`.
    pub actor: Actor,
    operation: PhantomData<Op>,
}

impl<Op: Guarded + 'static> FromRequest for Open<Op> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let actor = public_actor::<Op>(req, payload, Allowance::Public);
        Box::pin(async move {
            actor.await.map(|actor| Self {
                actor,
                operation: PhantomData,
            })
        })
    }
}

/// A caller of a health probe or the public key set: a token, if sent, must be valid (401
/// otherwise); with or without one, the request spends its address's allowance for that
/// operation (`LINKWELL_PROBE_RATE_PER_MINUTE`), never a caller's, so a busy token cannot fail
/// an orchestrator's probe. Nothing is audited.
#[derive(Debug)]
pub struct Probe<Op> {
    operation: PhantomData<Op>,
}

impl<Op: Guarded + 'static> FromRequest for Probe<Op> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let actor = public_actor::<Op>(req, payload, Allowance::Probe);
        Box::pin(async move {
            actor.await.map(|_| Self {
                operation: PhantomData,
            })
        })
    }
}

/// Who calls an operation open to anyone: with a bearer token, that caller (the token must be
/// valid, 401 otherwise), attributable and so held to its own allowance rather than its
/// address's — staff entering a self-referral on someone's behalf; without one, an address the
/// per-address rate limit admits.
fn public_actor<Op: Guarded>(
    req: &HttpRequest,
    payload: &mut Payload,
    allowance: Allowance,
) -> Pin<Box<dyn Future<Output = Result<Actor, ApiError>>>> {
    if !req
        .headers()
        .contains_key(actix_web::http::header::AUTHORIZATION)
    {
        let admitted = admit::<Op>(req, allowance).map(|public| public.actor);
        return Box::pin(std::future::ready(admitted));
    }
    let caller = Caller::from_request(req, payload);
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let req = req.clone();
    let operation = Op::OPERATION;
    Box::pin(async move {
        let caller = match caller.await {
            Ok(caller) => caller,
            Err(error) => {
                let refused = (request_id.clone(), None);
                return Err(unverified(&req, state.as_ref(), operation, refused, error));
            }
        };
        if let Some(state) = &state {
            match allowance {
                Allowance::Public => ratelimit::charge_caller(&req, &state.callers, &caller)?,
                // A probe never spends a caller's allowance: an orchestrator's probe must not
                // fail because the same token was busy elsewhere.
                Allowance::Probe => {
                    let client = state
                        .public
                        .client(&req)
                        .ok_or_else(|| ApiError::Internal("no peer address".into()))?;
                    ratelimit::charge_probe(&req, &state.probes, operation.id, client)?;
                }
            }
        }
        Ok(Actor {
            caller,
            request_id: request_id.unwrap_or_default(),
            operation,
            anonymous: false,
            addressed: None,
            sink: Sink::of(&req)?,
            addressed_concerns: None,
        })
    })
}

/// A public caller and its validated JSON body, in that order: the rate limit is applied
/// before a byte of the body is read.
#[derive(Debug)]
pub struct PublicJson<Op, T> {
    pub actor: Actor,
    pub body: ValidJson<T>,
    operation: PhantomData<Op>,
}

impl<Op, T> FromRequest for PublicJson<Op, T>
where
    Op: Guarded + 'static,
    T: serde::de::DeserializeOwned + utoipa::ToSchema + validator::Validate + 'static,
{
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let admitted = public_actor::<Op>(req, payload, Allowance::Public);
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            let actor = admitted.await?;
            let body = ValidJson::read(&req, payload).await?;
            Ok(Self {
                actor,
                body,
                operation: PhantomData,
            })
        })
    }
}

/// An authorised caller and its validated JSON body, in that order: the role is checked (and a
/// refusal audited) before a byte of the body is read.
#[derive(Debug)]
pub struct AllowedJson<Op, T> {
    pub actor: Actor,
    pub body: ValidJson<T>,
    operation: PhantomData<Op>,
}

impl<Op, T> FromRequest for AllowedJson<Op, T>
where
    Op: Guarded + 'static,
    T: serde::de::DeserializeOwned + utoipa::ToSchema + validator::Validate + 'static,
{
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let allowed = Allowed::<Op>::from_request(req, payload);
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            let Allowed { actor, .. } = allowed.await?;
            let body = ValidJson::read(&req, payload).await?;
            Ok(Self {
                actor,
                body,
                operation: PhantomData,
            })
        })
    }
}
