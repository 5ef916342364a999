//! Users: link workers, administrators, and the people who act for referring and partner
//! organisations. `linkwell token --user ID` signs a token that acts as one.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use linkwell_domain::{NewUser, Role, User};
use linkwell_persistence::users::{self, UserFilter};
use linkwell_persistence::{Keyset, organisations};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::access::{
    Allowed, AllowedJson, CreateUser, DeactivateUser, GetUser, ListUsers, ReactivateUser,
};
use crate::audit::Refusal;
use crate::create::{self, Creatable, Created, Made};
use crate::error::{ApiError, at, query_code};
use crate::fields::{self, Field};
use crate::idempotency::IdempotencyKey;
use crate::pagination;
use crate::pagination::Page;
use crate::schema::{ActionProblems, CreateProblems, ListProblems, ReadProblems};
use crate::state::AppState;
use crate::{change, clock, db, rules, schema, wire};

/// A user to register.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewUser)]
pub struct UserInput {
    /// Unique among users.
    #[validate(custom(function = "rules::field"))]
    pub email: fields::Email,
    #[validate(custom(function = "rules::field"))]
    pub display_name: fields::DisplayName,
    #[validate(custom(function = "rules::field"))]
    pub role: schema::Role,
    /// The organisation a referrer or partner user acts for: required for those roles, refused
    /// for the others.
    pub org_id: Option<Uuid>,
}

impl UserInput {
    fn into_domain(self) -> Result<NewUser, ApiError> {
        let email = at("/email", self.email.parse())?;
        let display_name = at("/display_name", self.display_name.parse())?;
        let role: Role = at("/role", self.role.parse())?;
        at(
            "/org_id",
            NewUser::new(email, display_name, role, self.org_id),
        )
    }
}

/// A user.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserView {
    pub id: Uuid,
    #[schema(value_type = crate::fields::Email)]
    pub email: String,
    #[schema(value_type = crate::fields::DisplayName)]
    pub display_name: String,
    #[schema(value_type = schema::Role)]
    pub role: &'static str,
    #[schema(required = true)]
    pub org_id: Option<Uuid>,
    /// A deactivated user's tokens do not work.
    pub active: bool,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    #[schema(value_type = crate::schema::Version)]
    pub version: i64,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            email: u.email.as_str().to_owned(),
            display_name: u.display_name.clone(),
            role: u.role.as_str(),
            org_id: u.org_id,
            active: u.active,
            created_at: u.created_at,
            updated_at: u.updated_at,
            version: u.version,
        }
    }
}

/// A page of users.
pub type UserPage = Page<UserView>;

/// Register a user.
///
/// The role and organisation given here are what `linkwell token --user ID` puts in the
/// user's tokens. An email already registered is 409 naming the existing user in
/// `existing_id`; an `org_id` that names no organisation is 422.
#[utoipa::path(
    operation_id = "create_user",
    tag = "users",
    params(IdempotencyKey),
    request_body = UserInput,
    responses(
        Created<UserView>,
        CreateProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/users")]
pub async fn create_user(
    request: AllowedJson<CreateUser, UserInput>,
    state: web::Data<AppState>,
    key: IdempotencyKey,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let new = body.value.into_domain()?;
    let now = clock::now();
    let user = User {
        id: Uuid::now_v7(),
        email: new.email,
        display_name: new.display_name,
        role: new.role,
        org_id: new.org_id,
        active: true,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    create::create(&state, actor, key, &body.raw, move |conn, _| {
        if let Some(existing) = users::find_by_email(conn, &user.email)? {
            let detail = format!("a user with this email already exists: {existing}");
            return Err(Refusal::duplicate(existing, detail).into());
        }
        if let Some(org) = user.org_id
            && organisations::get(conn, org)?.is_none()
        {
            let message = "names no registered organisation";
            return Err(Refusal::invalid("/org_id", "unknown_organisation", message).into());
        }
        users::insert(conn, &user)?;
        let location = format!("/v1/users/{}", user.id);
        Ok(Made::new(
            user.id,
            Some(location),
            Some(user.version),
            &UserView::from(&user),
        )?)
    })
    .await
}

/// Read one user.
#[utoipa::path(
    operation_id = "get_user",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = UserView,
            headers(("ETag" = String, description = "The user's version"))),
        ReadProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/users/{id}")]
pub async fn get_user(
    _allowed: Allowed<GetUser>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let user = db::run(&state, move |conn| Ok(users::get(conn, id)?))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(wire::current(user.version, &UserView::from(&user)))
}

/// Filters and paging for the user list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Page size, 1 to 100 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` from the previous page, with the same filters.
    #[param(pattern = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$", max_length = 120)]
    pub cursor: Option<String>,
    #[param(value_type = Option<schema::Role>)]
    pub role: Option<String>,
    /// `true` for active users only, `false` for deactivated ones.
    #[param(value_type = Option<bool>)]
    pub active: Option<String>,
}

/// List users, newest first.
#[utoipa::path(
    operation_id = "list_users",
    tag = "users",
    params(UserQuery),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        ListProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/users")]
pub async fn list_users(
    _allowed: Allowed<ListUsers>,
    state: web::Data<AppState>,
    query: web::Query<UserQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = pagination::limit(query.limit.as_deref())?;
    let filter = UserFilter {
        role: query_code::<Role>("role", query.role.as_deref())?,
        active: pagination::flag("active", query.active.as_deref())?,
    };
    let part = |v: &Option<String>| v.clone().unwrap_or_default();
    let scope = format!("users|{}|{}", part(&query.role), part(&query.active));
    let after = state.cursors.after(query.cursor.as_deref(), &scope)?;
    let rows = db::run(&state, move |conn| {
        Ok(users::list(conn, filter, after, limit + 1)?)
    })
    .await?;
    let (rows, next_cursor) = pagination::finish(
        rows,
        limit,
        |u| Keyset {
            at: u.created_at,
            id: u.id,
        },
        &state.cursors,
        &scope,
    );
    Ok(HttpResponse::Ok().json(UserPage {
        items: rows.iter().map(UserView::from).collect(),
        next_cursor,
    }))
}

/// Deactivate a user.
///
/// Their tokens stop working within 30 seconds on every instance (at once on the instance that
/// answers). Their history and assignments stay. Deactivating an inactive user changes
/// nothing.
#[utoipa::path(
    operation_id = "deactivate_user",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user, now inactive", body = UserView,
            headers(("ETag" = String, description = "The user's version"))),
        ActionProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/users/{id}/deactivate")]
pub async fn deactivate_user(
    allowed: Allowed<DeactivateUser>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    set_active(allowed.actor, state, id.into_inner(), false).await
}

/// Reactivate a user.
///
/// Their tokens work again. Reactivating an active user changes nothing.
#[utoipa::path(
    operation_id = "reactivate_user",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user, now active", body = UserView,
            headers(("ETag" = String, description = "The user's version"))),
        ActionProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/users/{id}/reactivate")]
pub async fn reactivate_user(
    allowed: Allowed<ReactivateUser>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    set_active(allowed.actor, state, id.into_inner(), true).await
}

async fn set_active(
    actor: crate::audit::Actor,
    state: web::Data<AppState>,
    id: Uuid,
    active: bool,
) -> Result<HttpResponse, ApiError> {
    let user = change::change(&state, actor, id, move |conn, _| {
        let mut user = users::get(conn, id)?.ok_or_else(Refusal::not_found)?;
        if user.active != active {
            user.active = active;
            user.updated_at = clock::now();
            user.version += 1;
            users::save(conn, &user)?;
        }
        Ok(user)
    })
    .await?;
    state.revoked.set(user.id, !user.active);
    Ok(wire::current(user.version, &UserView::from(&user)))
}

impl Creatable for UserView {
    const SAYS: &'static str = "User registered";
    const NOUN: &'static str = "user";
}
