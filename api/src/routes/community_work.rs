//! Community development work (LifeLink): time link workers spend starting and supporting
//! community groups. It is about groups, not people, so it is not audited; reports give its
//! hours beside the one-to-one hours.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use linkwell_domain::community_work::{self, CommunityGroup, CommunityWork};
use linkwell_persistence::{community_work as store, directory, teams};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Type};
use utoipa::openapi::{KnownFormat, SchemaFormat};
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::access::{
    Allowed, AllowedJson, CreateCommunityWork, GetCommunityWork, ListCommunityWork,
};
use crate::audit::Refusal;
use crate::create::{self, Creatable, Created, Made};
use crate::error::{ApiError, at, at_optional};
use crate::fields::{self, Field};
use crate::idempotency::IdempotencyKey;
use crate::listing;
use crate::pagination::{Page, PageQuery};
use crate::schema::{CreateProblems, ListProblems, ReadProblems};
use crate::state::AppState;
use crate::{clock, db, rules, schema, wire};

/// The group the work was for: a directory service, or a new group by name.
#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct GroupInput {
    pub service_id: Option<Uuid>,
    #[validate(custom(function = "rules::field"))]
    pub name: Option<fields::CommunityGroupName>,
}

/// Exactly one of `service_id` and `name`.
fn group_schema() -> OneOfBuilder {
    let uuid = ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)));
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("service_id", uuid.description(Some("A directory service.")))
                .required("service_id")
                .additional_properties(Some(AdditionalProperties::FreeForm(false))),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("name", fields::CommunityGroupName::schema())
                .required("name")
                .additional_properties(Some(AdditionalProperties::FreeForm(false))),
        )
        .description(Some(
            "The group: `service_id` for one in the directory, or `name` for one that is not (yet).",
        ))
}

/// Community work to record.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewCommunityWork)]
pub struct CommunityWorkInput {
    #[validate(nested)]
    #[schema(schema_with = group_schema)]
    pub group: GroupInput,
    #[validate(custom(function = "rules::field"))]
    pub activity: schema::CommunityActivity,
    #[validate(custom(function = "rules::community_minutes"))]
    #[schema(minimum = 1, maximum = 480)]
    pub minutes: i64,
    /// When it was done: not in the future.
    #[validate(custom(function = "rules::field"))]
    pub occurred_at: fields::Timestamp,
    /// The team it counts for in reports.
    pub team_id: Option<Uuid>,
    #[validate(custom(function = "rules::field"))]
    pub notes: Option<fields::CommunityWorkNotes>,
}

/// The group community work was for.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CommunityGroup)]
pub struct GroupView {
    /// The directory service; `null` for a group named instead.
    #[schema(required = true)]
    pub service_id: Option<Uuid>,
    /// The group's name when it is not in the directory; `null` for a directory service.
    #[schema(required = true, value_type = Option<crate::fields::CommunityGroupName>)]
    pub name: Option<String>,
}

/// A piece of community development work.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CommunityWork)]
pub struct CommunityWorkView {
    pub id: Uuid,
    pub group: GroupView,
    #[schema(value_type = schema::CommunityActivity)]
    pub activity: &'static str,
    #[schema(minimum = 1, maximum = 480)]
    pub minutes: u32,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: DateTime<Utc>,
    #[schema(required = true)]
    pub team_id: Option<Uuid>,
    #[schema(required = true, value_type = Option<crate::fields::CommunityWorkNotes>)]
    pub notes: Option<String>,
    /// Who recorded it: the subject of their token.
    #[schema(value_type = crate::schema::Subject)]
    pub created_by: String,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

impl From<&CommunityWork> for CommunityWorkView {
    fn from(w: &CommunityWork) -> Self {
        let (service_id, name) = match &w.group {
            CommunityGroup::Service(id) => (Some(*id), None),
            CommunityGroup::Named(name) => (None, Some(name.clone())),
        };
        Self {
            id: w.id,
            group: GroupView { service_id, name },
            activity: w.activity.as_str(),
            minutes: w.minutes,
            occurred_at: w.occurred_at,
            team_id: w.team_id,
            notes: w.notes.clone(),
            created_by: w.created_by.clone(),
            created_at: w.created_at,
        }
    }
}

/// A page of community work, newest first.
pub type CommunityWorkPage = Page<CommunityWorkView>;

impl Creatable for CommunityWorkView {
    const SAYS: &'static str = "Community work recorded";
    const NOUN: &'static str = "community work";
    const VERSIONED: bool = false;
}

/// Record time spent starting or supporting a community group.
///
/// `group` is a directory service (`service_id`, 422 `unknown_service`) or a group by
/// `name`, exactly one (422 `one_of`). `minutes` 1 to 480; `occurred_at` not in the future.
/// `team_id` (422 `unknown_team`) counts it in that team's report too. Notes are about
/// groups: never write about a person here.
#[utoipa::path(
    operation_id = "create_community_work",
    tag = "group-sessions",
    params(IdempotencyKey),
    request_body = CommunityWorkInput,
    responses(Created<CommunityWorkView>, CreateProblems),
    security(("bearer" = [])),
)]
#[post("/community-work")]
pub async fn create_community_work(
    request: AllowedJson<CreateCommunityWork, CommunityWorkInput>,
    state: web::Data<AppState>,
    key: IdempotencyKey,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let input = body.value;
    let name = at_optional("/group/name", input.group.name.as_ref())?;
    let group = at("/group", CommunityGroup::new(input.group.service_id, name))?;
    let now = clock::now();
    let occurred_at = at("/occurred_at", input.occurred_at.parse())?;
    let work = CommunityWork {
        id: Uuid::now_v7(),
        group,
        activity: at("/activity", input.activity.parse())?,
        minutes: at("/minutes", community_work::minutes(input.minutes))?,
        occurred_at: at(
            "/occurred_at",
            community_work::occurred_at(occurred_at, now),
        )?,
        team_id: input.team_id,
        notes: at_optional("/notes", input.notes.as_ref())?,
        created_by: actor.caller.sub.clone(),
        created_at: now,
    };
    create::create(&state, actor, key, &body.raw, move |conn, _| {
        if let CommunityGroup::Service(id) = work.group
            && directory::get(conn, id)?.is_none()
        {
            let refusal = Refusal::invalid(
                "/group/service_id",
                "unknown_service",
                "names no directory service",
            );
            return Err(refusal.into());
        }
        if let Some(team) = work.team_id
            && teams::get(conn, team)?.is_none()
        {
            return Err(Refusal::invalid("/team_id", "unknown_team", "names no team").into());
        }
        store::insert(conn, &work)?;
        Ok(Made::new(
            work.id,
            Some(format!("/v1/community-work/{}", work.id)),
            None,
            &CommunityWorkView::from(&work),
        )?)
    })
    .await
}

/// List community work, newest first.
#[utoipa::path(
    operation_id = "list_community_work",
    tag = "group-sessions",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of community work", body = CommunityWorkPage),
        ListProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/community-work")]
pub async fn list_community_work(
    _allowed: Allowed<ListCommunityWork>,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (rows, next_cursor) =
        listing::top_level(&state, "community-work".into(), &query, |conn, w| {
            Ok(store::list(conn, w.after, w.limit)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(CommunityWorkPage {
        items: rows.iter().map(CommunityWorkView::from).collect(),
        next_cursor,
    }))
}

/// Read one piece of community work.
#[utoipa::path(
    operation_id = "get_community_work",
    tag = "group-sessions",
    params(("id" = Uuid, Path, description = "The community work's id")),
    responses(
        (status = 200, description = "The community work", body = CommunityWorkView),
        ReadProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/community-work/{id}")]
pub async fn get_community_work(
    _allowed: Allowed<GetCommunityWork>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let work = db::run(&state, move |conn| Ok(store::get(conn, id)?))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(CommunityWorkView::from(&work)))
}
