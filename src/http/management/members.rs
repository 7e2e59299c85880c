//! `/organizations/{id}/members` and their roles.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::organizations::organization_not_found;
use super::roles::{RoleBody, role_not_found};
use super::users::user_not_found;
use super::{ApiJson, ApiQuery, ManagementAuth, Paging, list_page};
use crate::http::error::{ApiError, ApiErrorBody};
use crate::model::ValidationError;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::organizations::Member;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(members_list, members_post, members_delete))
        .routes(routes!(
            member_roles_list,
            member_roles_post,
            member_roles_delete
        ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberBody {
    pub user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
}

impl From<Member> for MemberBody {
    fn from(m: Member) -> Self {
        MemberBody {
            user_id: m.user_id,
            email: m.email,
            name: m.name,
            picture: m.picture,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembersBody {
    /// User ids.
    pub members: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolesBody {
    /// Role ids.
    pub roles: Vec<String>,
}

fn check_list(field: &str, items: &[String]) -> Result<(), ApiError> {
    if items.is_empty() || items.len() > 10 {
        return Err(ValidationError::new(field, "must list 1 to 10 ids").into());
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/v2/organizations/{id}/members", tag = "organizations",
    params(("id" = String, Path), Paging),
    responses((status = 200, description = "An array, or `{members, start, limit, total}` with include_totals, or `{members, next}` with from/take", body = [MemberBody]), (status = 404, body = ApiErrorBody)))]
async fn members_list(
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
        "members",
        &paging,
        async |page| state.store.list_members(&id, page).await,
        |m: &MemberBody| m.user_id.clone(),
        state.store.count_members(&id),
    )
    .await
}

#[utoipa::path(post, path = "/api/v2/organizations/{id}/members", tag = "organizations",
    params(("id" = String, Path)), request_body = MembersBody,
    responses((status = 204), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn members_post(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MembersBody>,
) -> Result<StatusCode, ApiError> {
    auth.require("create:organization_members")?;
    check_list("members", &body.members)?;
    state
        .store
        .get_organization(&id)
        .await
        .map_err(organization_not_found)?;
    for (i, user_id) in body.members.iter().enumerate() {
        state.store.get_user(user_id).await.map_err(|e| match e {
            StoreError::NotFound => {
                ValidationError::new(format!("members[{i}]"), "user does not exist").into()
            }
            other => ApiError::from(other),
        })?;
    }
    state.store.insert_members(&id, &body.members).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v2/organizations/{id}/members", tag = "organizations",
    params(("id" = String, Path)), request_body = MembersBody,
    responses((status = 204), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn members_delete(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MembersBody>,
) -> Result<StatusCode, ApiError> {
    auth.require("delete:organization_members")?;
    check_list("members", &body.members)?;
    state
        .store
        .get_organization(&id)
        .await
        .map_err(organization_not_found)?;
    state.store.delete_members(&id, &body.members).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn require_member(
    state: &AppState,
    organization_id: &str,
    user_id: &str,
) -> Result<(), ApiError> {
    state
        .store
        .get_organization(organization_id)
        .await
        .map_err(organization_not_found)?;
    state
        .store
        .get_user(user_id)
        .await
        .map_err(user_not_found)?;
    if !state.store.is_member(organization_id, user_id).await? {
        return Err(ApiError::not_found(
            "The user is not a member of the organization",
            "inexistent_organization_member",
        ));
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/v2/organizations/{id}/members/{user_id}/roles", tag = "organizations",
    params(("id" = String, Path), ("user_id" = String, Path), Paging),
    responses((status = 200, description = "An array, or `{roles, start, limit, total}` with include_totals", body = [RoleBody]),
        (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn member_roles_list(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path((id, user_id)): Path<(String, String)>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth.require("read:organization_member_roles")?;
    let paging = paging.offset_only()?;
    require_member(&state, &id, &user_id).await?;
    list_page(
        "roles",
        &paging,
        async |page| {
            state
                .store
                .list_member_roles_page(&id, &user_id, page)
                .await
        },
        |r: &RoleBody| r.id.clone(),
        state.store.count_member_roles(&id, &user_id),
    )
    .await
}

#[utoipa::path(post, path = "/api/v2/organizations/{id}/members/{user_id}/roles", tag = "organizations",
    params(("id" = String, Path), ("user_id" = String, Path)), request_body = RolesBody,
    responses((status = 204), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn member_roles_post(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path((id, user_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<RolesBody>,
) -> Result<StatusCode, ApiError> {
    auth.require("create:organization_member_roles")?;
    check_list("roles", &body.roles)?;
    require_member(&state, &id, &user_id).await?;
    for (i, role_id) in body.roles.iter().enumerate() {
        state.store.get_role(role_id).await.map_err(|e| match e {
            StoreError::NotFound => {
                ValidationError::new(format!("roles[{i}]"), "role does not exist").into()
            }
            other => role_not_found(other),
        })?;
    }
    state
        .store
        .insert_member_roles(&id, &user_id, &body.roles)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v2/organizations/{id}/members/{user_id}/roles", tag = "organizations",
    params(("id" = String, Path), ("user_id" = String, Path)), request_body = RolesBody,
    responses((status = 204), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn member_roles_delete(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path((id, user_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<RolesBody>,
) -> Result<StatusCode, ApiError> {
    auth.require("delete:organization_member_roles")?;
    check_list("roles", &body.roles)?;
    require_member(&state, &id, &user_id).await?;
    state
        .store
        .delete_member_roles(&id, &user_id, &body.roles)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
