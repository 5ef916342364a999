//! Teams within the service: administrators make them and say which link workers belong to
//! each; a referral is owned by one team and handed over between them.

use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use linkwell_domain::Team;
use linkwell_persistence::teams::{self, Membership};
use linkwell_persistence::users;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use crate::access::{
    AddTeamMember, Allowed, AllowedJson, CreateTeam, GetTeam, ListTeamMembers, ListTeams,
    RemoveTeamMember,
};
use crate::audit::Refusal;
use crate::create::{self, Creatable, Created, Made};
use crate::error::{ApiError, at, at_optional};
use crate::fields::{self, Field};
use crate::idempotency::IdempotencyKey;
use crate::listing;
use crate::pagination::{Page, PageQuery};
use crate::schema::{ActionProblems, CreateProblems, ListProblems, NamingProblems, ReadProblems};
use crate::state::AppState;
use crate::{change, clock, db, rules, wire};

/// A team to make.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewTeam)]
pub struct TeamInput {
    #[validate(custom(function = "rules::field"))]
    pub name: fields::TeamName,
    #[validate(custom(function = "rules::field"))]
    pub area: Option<fields::TeamArea>,
}

/// A team.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Team)]
pub struct TeamView {
    pub id: Uuid,
    #[schema(value_type = fields::TeamName)]
    pub name: String,
    #[schema(required = true, value_type = Option<fields::TeamArea>)]
    pub area: Option<String>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    #[schema(value_type = crate::schema::Version)]
    pub version: i64,
}

impl From<&Team> for TeamView {
    fn from(t: &Team) -> Self {
        Self {
            id: t.id,
            name: t.name.clone(),
            area: t.area.clone(),
            created_at: t.created_at,
            updated_at: t.updated_at,
            version: t.version,
        }
    }
}

impl Creatable for TeamView {
    const SAYS: &'static str = "Team made";
    const NOUN: &'static str = "team";
}

/// A page of teams.
pub type TeamPage = Page<TeamView>;

/// A link worker's place in a team.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TeamMember)]
pub struct MemberView {
    pub team_id: Uuid,
    pub user_id: Uuid,
    /// When they joined the team.
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub added_at: DateTime<Utc>,
}

impl From<&Membership> for MemberView {
    fn from(m: &Membership) -> Self {
        Self {
            team_id: m.team_id,
            user_id: m.user_id,
            added_at: m.added_at,
        }
    }
}

/// A page of a team's members.
pub type TeamMemberPage = Page<MemberView>;

/// Make a team.
///
/// A name another team has (ignoring case) is 409, naming that team in `existing_id`.
#[utoipa::path(
    operation_id = "create_team",
    tag = "teams",
    params(IdempotencyKey),
    request_body = TeamInput,
    responses(Created<TeamView>, CreateProblems),
    security(("bearer" = [])),
)]
#[post("/teams")]
pub async fn create_team(
    request: AllowedJson<CreateTeam, TeamInput>,
    state: web::Data<AppState>,
    key: IdempotencyKey,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let now = clock::now();
    let team = Team {
        id: Uuid::now_v7(),
        name: at("/name", body.value.name.parse())?,
        area: at_optional("/area", body.value.area.as_ref())?,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    create::create(&state, actor, key, &body.raw, move |conn, _| {
        if let Some(existing) = teams::find_by_name(conn, &team.name)? {
            let detail = format!("a team called {} already exists: {existing}", team.name);
            return Err(Refusal::duplicate(existing, detail).into());
        }
        teams::insert(conn, &team)?;
        let location = format!("/v1/teams/{}", team.id);
        Ok(Made::new(
            team.id,
            Some(location),
            Some(team.version),
            &TeamView::from(&team),
        )?)
    })
    .await
}

/// List teams, in the order they were made.
#[utoipa::path(
    operation_id = "list_teams",
    tag = "teams",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of teams", body = TeamPage),
        ListProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/teams")]
pub async fn list_teams(
    _allowed: Allowed<ListTeams>,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (rows, next_cursor) = listing::top_level(&state, "teams".into(), &query, |conn, w| {
        Ok(teams::list(conn, w.after, w.limit)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(TeamPage {
        items: rows.iter().map(TeamView::from).collect(),
        next_cursor,
    }))
}

/// Read one team.
#[utoipa::path(
    operation_id = "get_team",
    tag = "teams",
    params(("id" = Uuid, Path, description = "The team's id")),
    responses(
        (status = 200, description = "The team", body = TeamView,
            headers(("ETag" = String, description = "The team's version"))),
        ReadProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/teams/{id}")]
pub async fn get_team(
    _allowed: Allowed<GetTeam>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let team = db::run(&state, move |conn| Ok(teams::get(conn, id)?))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(wire::current(team.version, &TeamView::from(&team)))
}

/// List a team's members, in the order they joined.
#[utoipa::path(
    operation_id = "list_team_members",
    tag = "teams",
    params(("id" = Uuid, Path, description = "The team's id"), PageQuery),
    responses(
        (status = 200, description = "A page of the team's members", body = TeamMemberPage),
        ReadProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/teams/{id}/members")]
pub async fn list_team_members(
    allowed: Allowed<ListTeamMembers>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let team_id = id.into_inner();
    let page = listing::under_parent(
        &state,
        allowed.actor,
        ("team-members", team_id),
        &query,
        move |conn| Ok(teams::get(conn, team_id)?.is_some()),
        move |conn, w| teams::members(conn, team_id, w.after, w.limit),
        |_, _, _| Ok(()),
    )
    .await?;
    Ok(HttpResponse::Ok().json(TeamMemberPage {
        items: page.rows.iter().map(MemberView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Add a link worker to a team.
///
/// Only coordinators belong to teams (422 `not_a_coordinator` for anyone else). Adding a
/// member again changes nothing and answers as the first time.
#[utoipa::path(
    operation_id = "add_team_member",
    tag = "teams",
    params(
        ("id" = Uuid, Path, description = "The team's id"),
        ("user_id" = Uuid, Path, description = "The coordinator's user id"),
    ),
    responses(
        (status = 200, description = "The membership", body = MemberView),
        NamingProblems,
    ),
    security(("bearer" = [])),
)]
#[put("/teams/{id}/members/{user_id}")]
pub async fn add_team_member(
    allowed: Allowed<AddTeamMember>,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (team_id, user_id) = path.into_inner();
    let member = change::change(&state, allowed.actor, team_id, move |conn, _| {
        teams::get(conn, team_id)?.ok_or_else(Refusal::not_found)?;
        let user = users::get(conn, user_id)?.ok_or_else(Refusal::not_found)?;
        if user.role != linkwell_domain::Role::Coordinator {
            return Err(Refusal::invalid(
                "/user_id",
                "not_a_coordinator",
                "only coordinators belong to teams",
            )
            .into());
        }
        Ok(teams::add_member(conn, team_id, user_id, clock::now())?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(MemberView::from(&member)))
}

/// Take a link worker out of a team.
///
/// The referrals they hold stay on their caseload and with their teams.
#[utoipa::path(
    operation_id = "remove_team_member",
    tag = "teams",
    params(
        ("id" = Uuid, Path, description = "The team's id"),
        ("user_id" = Uuid, Path, description = "The coordinator's user id"),
    ),
    responses(
        (status = 204, description = "No longer a member"),
        ActionProblems,
    ),
    security(("bearer" = [])),
)]
#[delete("/teams/{id}/members/{user_id}")]
pub async fn remove_team_member(
    allowed: Allowed<RemoveTeamMember>,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (team_id, user_id) = path.into_inner();
    change::change(&state, allowed.actor, team_id, move |conn, _| {
        if teams::remove_member(conn, team_id, user_id)? {
            Ok(())
        } else {
            Err(Refusal::not_found().into())
        }
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
