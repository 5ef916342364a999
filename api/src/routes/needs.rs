//! The needs vocabulary: the eleven reasons and the specific needs under them. Open to anyone,
//! like the directory it helps search.

use actix_web::{HttpResponse, get, web};
use linkwell_domain::{Need, Reason};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::{ListNeeds, Open};
use crate::error::{ApiError, query_code};
use crate::schema::{self, PublicListProblems};

/// A specific need.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = NeedEntry)]
pub struct NeedView {
    #[schema(value_type = schema::Need)]
    pub code: &'static str,
    /// The reason it rolls up to.
    #[schema(value_type = schema::Reason)]
    pub reason: &'static str,
    /// What it covers.
    #[schema(max_length = 200)]
    pub description: &'static str,
}

/// Every specific need (or those under one reason), in code-list order.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = NeedList)]
pub struct NeedList {
    #[schema(max_items = 25)]
    pub items: Vec<NeedView>,
}

/// Which needs to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NeedQuery {
    /// Only the needs under this reason.
    #[param(value_type = Option<schema::Reason>)]
    pub reason: Option<String>,
}

/// List the specific needs under the reasons.
///
/// A specific need may be given wherever reasons are (a referral's `reasons`, a service's
/// `needs`, the directory's `need` search); it brings its reason, so reports, which count
/// reasons, roll up to the first level.
#[utoipa::path(
    operation_id = "list_needs",
    tag = "directory",
    params(NeedQuery),
    responses(
        (status = 200, description = "The specific needs", body = NeedList),
        PublicListProblems,
    ),
    security((), ("bearer" = [])),
)]
#[get("/needs")]
pub async fn list_needs(
    _: Open<ListNeeds>,
    query: web::Query<NeedQuery>,
) -> Result<HttpResponse, ApiError> {
    let reason: Option<Reason> = query_code("reason", query.reason.as_deref())?;
    let items = Need::ALL
        .iter()
        .filter(|n| reason.is_none_or(|r| n.reason() == r))
        .map(|n| NeedView {
            code: n.as_str(),
            reason: n.reason().as_str(),
            description: n.description(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(NeedList { items }))
}
