//! `/organizations/{id}/join_requests` (a Switchyard extension; Auth0 has
//! none): the requests of users who asked to join an organization whose
//! `domain_membership` is `admin_approval`, approved (the user becomes a
//! member) or denied (the request goes) by an admin.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::organizations::organization_not_found;
use super::{ApiQuery, ManagementAuth, Paging, list_page};
use crate::http::error::{ApiError, ApiErrorBody};
use crate::state::AppState;
use crate::store::organizations::JoinRequest;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(join_requests_list))
        .routes(routes!(join_request_approve))
        .routes(routes!(join_request_delete))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JoinRequestBody {
    pub user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// When the user asked (RFC 3339).
    pub created_at: String,
}

impl From<JoinRequest> for JoinRequestBody {
    fn from(r: JoinRequest) -> Self {
        JoinRequestBody {
            user_id: r.user.user_id,
            email: r.user.email,
            name: r.user.name,
            picture: r.user.picture,
            created_at: crate::clock::rfc3339_from_millis(r.created_at),
        }
    }
}

fn join_request_not_found(err: crate::store::StoreError) -> ApiError {
    ApiError::from_store(
        err,
        "No request to join by that user",
        "inexistent_join_request",
    )
}

list_body!(JoinRequestList, "join_requests", JoinRequestBody);

#[utoipa::path(get, path = "/api/v2/organizations/{id}/join_requests", tag = "organizations",
    params(("id" = String, Path), Paging),
    responses((status = 200, description = "An array, or `{join_requests, start, limit, total}` with include_totals, or `{join_requests, next}` with from/take", body = JoinRequestList), (status = 404, body = ApiErrorBody)))]
async fn join_requests_list(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth.require("read:organization_members")?;
    state
        .store
        .get_organization(&id)
        .await
        .map_err(organization_not_found)?;
    list_page(
        "join_requests",
        &paging,
        async |page| state.store.list_join_requests(&id, page).await,
        |r: &JoinRequestBody| r.user_id.clone(),
        state.store.count_join_requests(&id),
    )
    .await
}

/// Approves the request: its user becomes a member. A user who became a
/// member meanwhile (another way) is a 409: the request is left for the
/// admin to deny, so that approving never silently does nothing.
#[utoipa::path(post, path = "/api/v2/organizations/{id}/join_requests/{user_id}/approve", tag = "organizations",
    params(("id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn join_request_approve(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    auth.require("create:organization_members")?;
    state
        .store
        .get_organization(&id)
        .await
        .map_err(organization_not_found)?;
    if !state.store.has_join_request(&id, &user_id).await? {
        return Err(join_request_not_found(crate::store::StoreError::NotFound));
    }
    if state.store.is_member(&id, &user_id).await? {
        return Err(ApiError::conflict(
            "The user is already a member of the organization; deny the request instead",
        ));
    }
    state
        .store
        .approve_join_request(&id, &user_id)
        .await
        .map_err(join_request_not_found)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Denies the request: it goes, and the user may ask again.
#[utoipa::path(delete, path = "/api/v2/organizations/{id}/join_requests/{user_id}", tag = "organizations",
    params(("id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 404, body = ApiErrorBody)))]
async fn join_request_delete(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    auth.require("delete:organization_members")?;
    state
        .store
        .get_organization(&id)
        .await
        .map_err(organization_not_found)?;
    state
        .store
        .delete_join_request(&id, &user_id)
        .await
        .map_err(join_request_not_found)?;
    Ok(StatusCode::NO_CONTENT)
}
