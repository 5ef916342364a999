//! Who users are at the OpenID Connect provider (`LINKWELL_OIDC_ISSUER`): an administrator
//! links the provider's `issuer` and the `subject` it gives a person to that person's user, and
//! the provider's tokens for the subject then act as the user. Linking is explicit rather than
//! by a matching email claim, which several providers do not verify.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use linkwell_domain::UserIdentity;
use linkwell_persistence::{user_identities, users};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use crate::access::{
    Allowed, AllowedJson, CreateUserIdentity, DeleteUserIdentity, GetUserIdentity,
    ListUserIdentities,
};
use crate::audit::Refusal;
use crate::create::{self, Creatable, Created, Made};
use crate::error::{ApiError, at};
use crate::fields::{self, Field};
use crate::idempotency::IdempotencyKey;
use crate::schema::{ActionProblems, CreateUnderProblems, ReadProblems};
use crate::state::AppState;
use crate::{change, clock, db, rules, wire};

/// A provider identity to link to the user.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewUserIdentity)]
pub struct UserIdentityInput {
    #[validate(custom(function = "rules::field"))]
    pub issuer: fields::Issuer,
    #[validate(custom(function = "rules::field"))]
    pub subject: fields::ProviderSubject,
}

/// A provider identity linked to a user.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = UserIdentity)]
pub struct UserIdentityView {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The provider's issuer.
    #[schema(value_type = crate::fields::Issuer)]
    pub issuer: String,
    /// The provider's subject for the person.
    #[schema(value_type = crate::fields::ProviderSubject)]
    pub subject: String,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

impl From<&UserIdentity> for UserIdentityView {
    fn from(i: &UserIdentity) -> Self {
        Self {
            id: i.id,
            user_id: i.user_id,
            issuer: i.issuer.as_str().to_owned(),
            subject: i.subject.clone(),
            created_at: i.created_at,
        }
    }
}

/// A user's linked identities, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserIdentityList {
    /// At most `user_identity::MAX_PER_USER` (tests/api/oidc.rs checks the two agree).
    #[schema(max_items = 10)]
    pub items: Vec<UserIdentityView>,
}

/// Link a provider identity to a user.
///
/// The provider's tokens whose `iss` and `sub` are these then act as the user, with the user's
/// role and organisation (whatever the token itself claims). A pair already linked, to this
/// user or another, is 409 naming the existing link in `existing_id`; an unknown user is 404.
#[utoipa::path(
    operation_id = "create_user_identity",
    tag = "users",
    params(
        ("id" = Uuid, Path, description = "The user's id"),
        IdempotencyKey,
    ),
    request_body = UserIdentityInput,
    responses(
        Created<UserIdentityView>,
        CreateUnderProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/users/{id}/identities")]
pub async fn create_user_identity(
    request: AllowedJson<CreateUserIdentity, UserIdentityInput>,
    state: web::Data<AppState>,
    key: IdempotencyKey,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    // Both members were checked as the body was read (`rules::field`); parsed again for values.
    let issuer = at("/issuer", body.value.issuer.parse())?;
    let subject = at("/subject", body.value.subject.parse())?;
    let identity = UserIdentity {
        id: Uuid::now_v7(),
        user_id: id.into_inner(),
        issuer,
        subject,
        created_at: clock::now(),
    };
    let by = actor.caller.sub.clone();
    create::create(&state, actor, key, &body.raw, move |conn, _| {
        if users::get(conn, identity.user_id)?.is_none() {
            return Err(Refusal::not_found().into());
        }
        if let Some(existing) =
            user_identities::find(conn, identity.issuer.as_str(), &identity.subject)?
        {
            let detail = format!(
                "this identity is already linked to user {}",
                existing.user_id
            );
            return Err(Refusal::duplicate(existing.id, detail).into());
        }
        if user_identities::for_user(conn, identity.user_id)?.len()
            >= linkwell_domain::user_identity::MAX_PER_USER
        {
            let detail = format!(
                "a user has at most {} linked identities: unlink one first",
                linkwell_domain::user_identity::MAX_PER_USER
            );
            return Err(Refusal::conflict(ApiError::StateConflict {
                code: "too_many_identities",
                detail,
            })
            .into());
        }
        user_identities::insert(conn, &identity, &by)?;
        let location = format!("/v1/users/{}/identities/{}", identity.user_id, identity.id);
        Ok(Made::new(
            identity.id,
            Some(location),
            None,
            &UserIdentityView::from(&identity),
        )?)
    })
    .await
}

/// List a user's provider identities.
#[utoipa::path(
    operation_id = "list_user_identities",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user's linked identities, oldest first", body = UserIdentityList),
        ReadProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/users/{id}/identities")]
pub async fn list_user_identities(
    _allowed: Allowed<ListUserIdentities>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let items = db::run(&state, move |conn| {
        if users::get(conn, id)?.is_none() {
            return Ok(None);
        }
        Ok(Some(user_identities::for_user(conn, id)?))
    })
    .await?
    .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(UserIdentityList {
        items: items.iter().map(UserIdentityView::from).collect(),
    }))
}

/// Read one provider identity linked to a user (where `Location` points after a link).
#[utoipa::path(
    operation_id = "get_user_identity",
    tag = "users",
    params(
        ("id" = Uuid, Path, description = "The user's id"),
        ("identity_id" = Uuid, Path, description = "The link's id"),
    ),
    responses(
        (status = 200, description = "The link", body = UserIdentityView),
        ReadProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/users/{id}/identities/{identity_id}")]
pub async fn get_user_identity(
    _allowed: Allowed<GetUserIdentity>,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (user_id, identity_id) = path.into_inner();
    let identity = db::run(&state, move |conn| {
        Ok(user_identities::get(conn, user_id, identity_id)?)
    })
    .await?
    .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(UserIdentityView::from(&identity)))
}

/// Unlink a provider identity.
///
/// The provider's tokens for it stop working at once, on every instance.
#[utoipa::path(
    operation_id = "delete_user_identity",
    tag = "users",
    params(
        ("id" = Uuid, Path, description = "The user's id"),
        ("identity_id" = Uuid, Path, description = "The link's id"),
    ),
    responses(
        (status = 204, description = "Unlinked"),
        ActionProblems,
    ),
    security(("bearer" = [])),
)]
#[delete("/users/{id}/identities/{identity_id}")]
pub async fn delete_user_identity(
    allowed: Allowed<DeleteUserIdentity>,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (user_id, identity_id) = path.into_inner();
    change::change(&state, allowed.actor, identity_id, move |conn, _| {
        if user_identities::delete(conn, user_id, identity_id)? {
            Ok(())
        } else {
            Err(Refusal::not_found().into())
        }
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

impl Creatable for UserIdentityView {
    const SAYS: &'static str = "Identity linked";
    const NOUN: &'static str = "identity link";
    const VERSIONED: bool = false;
}
