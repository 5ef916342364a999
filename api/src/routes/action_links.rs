//! One-time action links for receiving organisations without a login: staff issue one for a
//! connection; whoever holds it sees that connection's consented details, as a partner would,
//! and answers it once. The link is its id signed with a key derived from the server secret;
//! the store keeps the id, the connection, the expiry and whether it was used.

use std::fmt;

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use linkwell_domain::Role;
use linkwell_domain::action_link::{ActionLink, LinkRefused};
use linkwell_domain::connection::Mover;
use linkwell_domain::privacy;
use linkwell_persistence::connections::{self, Visibility};
use linkwell_persistence::erasure::{self, Standing};
use linkwell_persistence::{DbConnection, action_links};
use serde::Serialize;
use sha2::Sha256;
use utoipa::ToSchema;
use uuid::Uuid;

use super::connections::{ConnectionView, person_of, transition::TransitionInput};
use crate::access::{
    Allowed, AnswerActionLink, CreateActionLink, Open, PublicJson, ReadActionLink,
};
use crate::audit::{Actor, Outcome, Refusal};
use crate::auth::Caller;
use crate::error::{ApiError, FieldError};
use crate::schema::{self, ActionProblems};
use crate::state::AppState;
use crate::{change, clock, db, wire};

/// The key that signs action links, derived from the server secret like the cursor key.
pub struct LinkKey([u8; 32]);

impl fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkKey(..)")
    }
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    }
}

impl LinkKey {
    pub fn derive(secret: &[u8]) -> Self {
        let mut m = mac(secret);
        m.update(b"linkwell action link key v1");
        Self(m.finalize().into_bytes().into())
    }

    /// The token for `link`: its id and the signature of what makes it that link.
    pub fn token(&self, link: &ActionLink) -> String {
        let mut m = mac(&self.0);
        m.update(link.signed_message().as_bytes());
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(link.id.as_bytes()),
            URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
        )
    }

    /// The link id a token names, before its signature is checked against the stored link.
    fn id_of(token: &str) -> Option<(Uuid, Vec<u8>)> {
        let (id, tag) = token.split_once('.')?;
        let id = Uuid::from_slice(&URL_SAFE_NO_PAD.decode(id).ok()?).ok()?;
        Some((id, URL_SAFE_NO_PAD.decode(tag).ok()?))
    }

    /// Whether `tag` signs `link` (compared in constant time).
    fn signs(&self, link: &ActionLink, tag: &[u8]) -> bool {
        let mut m = mac(&self.0);
        m.update(link.signed_message().as_bytes());
        m.verify_slice(tag).is_ok()
    }
}

fn refused(why: LinkRefused) -> ApiError {
    ApiError::ActionLink {
        code: why.code(),
        detail: why.detail().to_owned(),
        gone: why != LinkRefused::Invalid,
    }
}

/// A link just issued: hand `path` to the receiving organisation (by email, say). It is shown
/// this once.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = IssuedActionLink)]
pub struct IssuedView {
    pub id: Uuid,
    pub connection_id: Uuid,
    /// The link's secret: whoever holds it may read and answer the connection once.
    #[schema(pattern = r"^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$", max_length = 66)]
    pub token: String,
    /// Where the link works: `/v1/action-links/{id}`, with the token in `Action-Token`.
    #[schema(max_length = 100)]
    pub path: String,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
}

/// What a link's holder sees: the connection as its receiving organisation does, the moves
/// it may make now, and until when the link works.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ActionLinkView)]
pub struct LinkView {
    pub connection: ConnectionView,
    /// The statuses the receiving organisation may move it to now.
    #[schema(value_type = Vec<schema::ConnectionStatus>, max_items = 10)]
    pub moves: Vec<&'static str>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
}

/// Issue a one-time action link for a connection.
///
/// For a receiving organisation without a login: whoever holds the link sees that connection's
/// consented details, as the organisation's partner users would, and makes one of its moves
/// (accept, reject, start, complete…) once, without an account. It works for 14 days, until
/// used, and while the connection is open (409 `connection_final` for a final one). Each call
/// issues a new link; the token is shown only here.
#[utoipa::path(
    operation_id = "create_action_link",
    tag = "connections",
    params(("id" = Uuid, Path, description = "The connection's id")),
    responses(
        (status = 201, description = "The link, shown this once", body = IssuedView),
        ActionProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/connections/{id}/action-links")]
pub async fn create_action_link(
    allowed: Allowed<CreateActionLink>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let connection_id = id.into_inner();
    let link = change::change(&state, allowed.actor, connection_id, move |conn, actor| {
        let connection = connections::get(conn, connection_id, Visibility::All)?
            .ok_or_else(Refusal::not_found)?;
        if connection.status.is_final() {
            return Err(Refusal::conflict(ApiError::StateConflict {
                code: "connection_final",
                detail: format!(
                    "the connection is `{}`, which is final: nothing is left to answer",
                    connection.status
                ),
            })
            .into());
        }
        let link = ActionLink::issue(
            Uuid::now_v7(),
            connection_id,
            actor.caller.sub.clone(),
            clock::now(),
        );
        action_links::insert(conn, &link)?;
        Ok(link)
    })
    .await?;
    let token = state.links.token(&link);
    Ok(HttpResponse::Created().json(IssuedView {
        id: link.id,
        connection_id: link.connection_id,
        path: format!("/v1/action-links/{}", link.id),
        token,
        expires_at: link.expires_at,
    }))
}

/// The header that carries a link's token: never in the URL, where logs, proxies and
/// browser histories keep it.
pub const TOKEN_HEADER: &str = "Action-Token";

/// The token presented for the link `id`: empty (naming nothing) when the header is missing,
/// or names another link.
fn presented(req: &HttpRequest, id: Uuid) -> String {
    req.headers()
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|token| LinkKey::id_of(token).is_some_and(|(named, _)| named == id))
        .unwrap_or_default()
        .to_owned()
}

/// What a token names, checked: a link signed by this server, unused, unexpired, for an open
/// connection; or why not, with the link when the token names a real one.
enum Checked {
    Works(ActionLink, Box<linkwell_domain::Connection>),
    Refused(LinkRefused, Option<(ActionLink, Uuid)>),
}

/// The stored link `token` names, if this server signed it as it stands.
fn signed_link(
    conn: &mut DbConnection,
    state: &AppState,
    token: &str,
) -> Result<Option<ActionLink>, ApiError> {
    let Some((id, tag)) = LinkKey::id_of(token) else {
        return Ok(None);
    };
    Ok(action_links::get(conn, id)?.filter(|link| state.links.signs(link, &tag)))
}

/// Checks the link `signed_link` found, locked first when `lock` (an answer uses it up).
fn checked(
    conn: &mut DbConnection,
    found: Option<ActionLink>,
    lock: bool,
) -> Result<Checked, ApiError> {
    let Some(mut link) = found else {
        return Ok(Checked::Refused(LinkRefused::Invalid, None));
    };
    if lock {
        link = match action_links::get_locked(conn, link.id)? {
            Some(locked) => locked,
            None => return Ok(Checked::Refused(LinkRefused::Invalid, None)),
        };
    }
    // An erased person's connection is no longer found: over for its link too, as it is 404
    // for its partner.
    let Some(connection) = connections::get(conn, link.connection_id, Visibility::All)? else {
        let about = link.connection_id;
        let why = link
            .check(clock::now(), false)
            .err()
            .unwrap_or(LinkRefused::Closed);
        return Ok(Checked::Refused(why, Some((link, about))));
    };
    Ok(
        match link.check(clock::now(), !connection.status.is_final()) {
            Ok(()) => Checked::Works(link, Box::new(connection)),
            Err(why) => {
                let about = connection.id;
                Checked::Refused(why, Some((link, about)))
            }
        },
    )
}

/// The audit row of a refused link: named by the link when there is one, about its
/// connection; else about nothing, as not found.
fn refusal_row(
    actor: &mut Actor,
    why: LinkRefused,
    known: Option<&(ActionLink, Uuid)>,
) -> (Option<Uuid>, Outcome) {
    match known {
        Some((link, connection)) => {
            actor.caller.sub = format!("action-link:{}", link.id);
            (
                Some(*connection),
                if why == LinkRefused::Invalid {
                    Outcome::NotFound
                } else {
                    Outcome::Gone
                },
            )
        }
        None => (None, Outcome::NotFound),
    }
}

/// The holder of a link acts as the receiving organisation, in the audit trail as the link.
fn holder(
    actor: &mut Actor,
    link: &ActionLink,
    connection: &linkwell_domain::Connection,
) -> Caller {
    actor.caller.sub = format!("action-link:{}", link.id);
    Caller {
        sub: actor.caller.sub.clone(),
        role: Role::Partner,
        org: connection.organisation_id,
    }
}

fn view(
    conn: &mut DbConnection,
    link: &ActionLink,
    connection: &linkwell_domain::Connection,
    caller: &Caller,
) -> Result<LinkView, ApiError> {
    let person = person_of(conn, connection.referral_id)?;
    Ok(LinkView {
        connection: ConnectionView::new(connection, &person, caller),
        moves: connection
            .status
            .next()
            .iter()
            .filter(|s| s.set_by() == Some(Mover::Receiver))
            .map(|s| s.as_str())
            .collect(),
        expires_at: link.expires_at,
    })
}

/// Read a connection through a one-time action link (no account needed).
///
/// Send the link's token in `Action-Token`. Shows the connection as its receiving organisation sees it (only the details the person
/// agreed to share) and the moves it may make now. A link that is not this server's, or was
/// altered, is 404 `action_link_invalid`; an expired one 410 `action_link_expired`; a used one
/// 410 `action_link_used`; one whose connection is over 410 `action_link_closed`. Rate limited
/// per client address.
#[utoipa::path(
    operation_id = "read_action_link",
    tag = "connections",
    params(
        ("id" = Uuid, Path, description = "The link's id"),
        ("Action-Token" = String, Header, description = "The link's token, as issued", pattern = r"^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$", max_length = 66),
    ),
    responses(
        (status = 200, description = "The connection, as its receiver sees it", body = LinkView),
        crate::schema::LinkProblems,
    ),
    // The link is the credential; a token, if sent, must be valid.
    security((), ("bearer" = [])),
)]
#[get("/action-links/{id}")]
pub async fn read_action_link(
    public: Open<ReadActionLink>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut actor = public.actor;
    let token = presented(&req, id.into_inner());
    let state_inner = state.clone();
    let answer = db::run(&state, move |conn| {
        let found = signed_link(conn, &state_inner, &token)?;
        match checked(conn, found, false)? {
            Checked::Refused(why, known) => {
                let (about, outcome) = refusal_row(&mut actor, why, known.as_ref());
                actor.record_alone(conn, about, outcome)?;
                Ok(Err(refused(why)))
            }
            Checked::Works(link, connection) => {
                let caller = holder(&mut actor, &link, &connection);
                actor.record_read(conn, connection.id, true)?;
                Ok(Ok(view(conn, &link, &connection, &caller)?))
            }
        }
    })
    .await?;
    Ok(HttpResponse::Ok().json(answer?))
}

/// Answer a connection through a one-time action link (no account needed).
///
/// One of the receiving organisation's moves, as `POST /v1/connections/{id}/transitions`
/// takes it (without `If-Match`: the link answers once), with the same rules and refusals;
/// `recorded_on_behalf_of` does not apply (422). The link is then used up. Its refusals are
/// those of reading it.
#[utoipa::path(
    operation_id = "answer_action_link",
    tag = "connections",
    params(
        ("id" = Uuid, Path, description = "The link's id"),
        ("Action-Token" = String, Header, description = "The link's token, as issued", pattern = r"^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$", max_length = 66),
    ),
    request_body = TransitionInput,
    responses(
        (status = 200, description = "The connection in its new status", body = LinkView),
        crate::schema::LinkAnswerProblems,
    ),
    security((), ("bearer" = [])),
)]
#[post("/action-links/{id}/transitions")]
pub async fn answer_action_link(
    request: PublicJson<AnswerActionLink, TransitionInput>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let PublicJson { actor, body, .. } = request;
    let input = body.value;
    if input.recorded_on_behalf_of.is_some() {
        return Err(ApiError::Validation(vec![FieldError::at(
            "/recorded_on_behalf_of",
            "not_applicable",
            "a link's holder answers for the receiving organisation itself",
        )]));
    }
    let mv = input.into_move()?;
    let token = presented(&req, id.into_inner());
    let state_inner = state.clone();
    let answer = crate::db::transaction(&state, move |conn| {
        let mut actor = actor.clone();
        // Every writer's lock order: the referral's row first (an erasure and a purge take it
        // first too), then the link's, so two answers queue and the second finds it used.
        let found = signed_link(conn, &state_inner, &token)?;
        if let Some(link) = &found {
            let standing = erasure::standing_locked(conn, "connection", link.connection_id)?;
            if standing == Standing::Anonymised {
                actor.caller.sub = format!("action-link:{}", link.id);
                let refusal = Refusal::state(privacy::anonymised());
                actor.record(conn, Some(link.connection_id), refusal.outcome)?;
                return Ok(Err(refusal.error));
            }
        }
        let (mut link, mut connection) = match checked(conn, found, true)? {
            Checked::Works(link, connection) => (link, *connection),
            Checked::Refused(why, known) => {
                let (about, outcome) = refusal_row(&mut actor, why, known.as_ref());
                actor.record(conn, about, outcome)?;
                return Ok(Err(refused(why)));
            }
        };
        let caller = holder(&mut actor, &link, &connection);
        // Refusals are values, so their audit rows commit.
        if let Err(why) = connection.check_move(mv.to, Mover::Receiver) {
            let refusal = super::connections::transition::refusal(why, mv.to);
            actor.record(conn, Some(connection.id), refusal.outcome)?;
            return Ok(Err(refusal.error));
        }
        let previous = connection.version;
        let person = person_of(conn, connection.referral_id)?;
        connection.apply(mv.clone(), clock::now(), &person);
        if !connections::save(conn, &connection, previous)? {
            return Err(ApiError::Conflict(
                "the connection changed meanwhile; try again".into(),
            ));
        }
        link.use_up(clock::now());
        action_links::save_used(conn, &link)?;
        actor.record(conn, Some(connection.id), Outcome::Success)?;
        Ok(Ok(view(conn, &link, &connection, &caller)?))
    })
    .await?;
    Ok(HttpResponse::Ok().json(answer?))
}
