//! `/roles`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::inert::{self, inert_settings};
use super::{ApiJson, ApiQuery, ManagementAuth, Paging, list_page, nullable};
use crate::http::error::{ApiError, ApiErrorBody};
use crate::model::ids;
use crate::model::role::{self, Role};
use crate::state::AppState;
use crate::store::StoreError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(roles_list, roles_post))
        .routes(routes!(role_get, role_patch, role_delete))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleBody {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(flatten)]
    pub inert: RoleInertSettings,
}

inert_settings!(
    /// Auth0 role properties kept and returned without effect (README).
    RoleInertSettings {
        r#type: String,
        owner_id: String,
    }
);

impl From<Role> for RoleBody {
    fn from(r: Role) -> Self {
        RoleBody {
            id: r.id,
            name: r.name,
            description: r.description,
            inert: inert::returned(&r.inert_settings),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoleBody {
    pub name: String,
    pub description: Option<String>,
    #[serde(flatten)]
    pub inert: RoleInertSettings,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRoleBody {
    pub name: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
}

fn check_role(r: &Role) -> Result<(), ApiError> {
    role::check_name(&r.name)?;
    if let Some(description) = &r.description {
        role::check_description(description)?;
    }
    Ok(())
}

pub(super) fn role_not_found(err: StoreError) -> ApiError {
    ApiError::from_store(err, "The role does not exist", "inexistent_role")
}

#[utoipa::path(post, path = "/api/v2/roles", tag = "roles", request_body = CreateRoleBody,
    responses((status = 200, body = RoleBody), (status = 400, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn roles_post(
    auth: ManagementAuth,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateRoleBody>,
) -> Result<Json<RoleBody>, ApiError> {
    auth.require("create:roles")?;
    let role = Role {
        id: ids::new_id(ids::ROLE),
        name: body.name,
        description: body.description,
        inert_settings: inert::stored(&body.inert),
    };
    check_role(&role)?;
    state.store.insert_role(&role).await?;
    // Auth0 answers 200 (not 201) to role creation; SDKs accept either.
    Ok(Json(role.into()))
}

list_body!(RoleList, "roles", RoleBody);

#[utoipa::path(get, path = "/api/v2/roles", tag = "roles", params(Paging),
    responses((status = 200, description = "An array, or `{roles, start, limit, total}` with include_totals", body = RoleList)))]
async fn roles_list(
    auth: ManagementAuth,
    State(state): State<AppState>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth.require("read:roles")?;
    list_page(
        "roles",
        &paging,
        async |page| state.store.list_roles(page).await,
        |r: &RoleBody| r.id.clone(),
        state.store.count_roles(),
    )
    .await
}

#[utoipa::path(get, path = "/api/v2/roles/{id}", tag = "roles", params(("id" = String, Path)),
    responses((status = 200, body = RoleBody), (status = 404, body = ApiErrorBody)))]
async fn role_get(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RoleBody>, ApiError> {
    auth.require("read:roles")?;
    Ok(Json(
        state
            .store
            .get_role(&id)
            .await
            .map_err(role_not_found)?
            .into(),
    ))
}

#[utoipa::path(patch, path = "/api/v2/roles/{id}", tag = "roles", params(("id" = String, Path)),
    request_body = UpdateRoleBody,
    responses((status = 200, body = RoleBody), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn role_patch(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateRoleBody>,
) -> Result<Json<RoleBody>, ApiError> {
    auth.require("update:roles")?;
    let role = state
        .store
        .update_role_with(&id, |mut role| {
            if let Some(name) = body.name {
                role.name = name;
            }
            if let Some(description) = body.description {
                role.description = description;
            }
            check_role(&role)?;
            Ok::<_, ApiError>(role)
        })
        .await
        .map_err(role_not_found)??;
    Ok(Json(role.into()))
}

#[utoipa::path(delete, path = "/api/v2/roles/{id}", tag = "roles", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ApiErrorBody)))]
async fn role_delete(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require("delete:roles")?;
    state.store.delete_role(&id).await.map_err(role_not_found)?;
    Ok(StatusCode::NO_CONTENT)
}
