//! `/organizations/{id}/client-grants`: the client grants whose machine
//! clients may get tokens scoped to the organization.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::client_grants::ClientGrantBody;
use super::organizations::organization_not_found;
use super::{ApiJson, ApiQuery, ManagementAuth, Paging, list_page};
use crate::http::error::{ApiError, ApiErrorBody};
use crate::model::ValidationError;
use crate::model::client::OrganizationUsage;
use crate::state::AppState;
use crate::store::StoreError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            organization_client_grants_list,
            organization_client_grants_post
        ))
        .routes(routes!(organization_client_grants_delete))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssociateGrantBody {
    pub grant_id: String,
}

list_body!(
    OrganizationClientGrantList,
    "client_grants",
    ClientGrantBody
);

#[utoipa::path(get, path = "/api/v2/organizations/{id}/client-grants", tag = "organizations",
    params(("id" = String, Path), Paging),
    responses((status = 200, description = "An array, or `{client_grants, start, limit, total}` with include_totals", body = OrganizationClientGrantList), (status = 404, body = ApiErrorBody)))]
async fn organization_client_grants_list(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth.require("read:organization_client_grants")?;
    state
        .store
        .get_organization(&id)
        .await
        .map_err(organization_not_found)?;
    list_page(
        "client_grants",
        &paging,
        async |page| state.store.list_organization_client_grants(&id, page).await,
        |g: &ClientGrantBody| g.id.clone(),
        state.store.count_organization_client_grants(&id),
    )
    .await
}

#[utoipa::path(post, path = "/api/v2/organizations/{id}/client-grants", tag = "organizations",
    params(("id" = String, Path)), request_body = AssociateGrantBody,
    responses((status = 201, body = ClientGrantBody), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn organization_client_grants_post(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AssociateGrantBody>,
) -> Result<(StatusCode, Json<ClientGrantBody>), ApiError> {
    auth.require("create:organization_client_grants")?;
    state
        .store
        .get_organization(&id)
        .await
        .map_err(organization_not_found)?;
    let grant = state
        .store
        .get_client_grant(&body.grant_id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => {
                ValidationError::new("grant_id", "client grant does not exist").into()
            }
            other => ApiError::from(other),
        })?;
    if matches!(
        grant.organization_usage,
        None | Some(OrganizationUsage::Deny)
    ) {
        return Err(ValidationError::new(
            "grant_id",
            "the client grant's organization_usage must be allow or require",
        )
        .into());
    }
    state
        .store
        .insert_organization_client_grant(&id, &grant.id)
        .await?;
    Ok((StatusCode::CREATED, Json(grant.into())))
}

#[utoipa::path(delete, path = "/api/v2/organizations/{id}/client-grants/{grant_id}", tag = "organizations",
    params(("id" = String, Path), ("grant_id" = String, Path)),
    responses((status = 204), (status = 404, body = ApiErrorBody)))]
async fn organization_client_grants_delete(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path((id, grant_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    auth.require("delete:organization_client_grants")?;
    state
        .store
        .delete_organization_client_grant(&id, &grant_id)
        .await
        .map_err(|e| {
            ApiError::from_store(
                e,
                "The client grant is not associated with the organization",
                "inexistent_organization_client_grant",
            )
        })?;
    Ok(StatusCode::NO_CONTENT)
}
