//! `/client-grants`: which APIs (the Management API or a resource server) a
//! client may get client-credentials tokens for, with which scopes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::inert::{self, inert_settings};
use super::{ALL_SCOPES, ApiJson, ApiQuery, ManagementAuth, Paging, list_page, nullable};
use crate::cache::Change;
use crate::http::error::{ApiError, ApiErrorBody};
use crate::model::ValidationError;
use crate::model::client::{ClientGrant, OrganizationUsage, check_scope_values};
use crate::model::ids;
use crate::state::AppState;
use crate::store::{ClientGrantFilter, StoreError};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(client_grants_list, client_grants_post))
        .routes(routes!(client_grant_patch, client_grant_delete))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientGrantBody {
    pub id: String,
    pub client_id: String,
    pub audience: String,
    pub scope: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_usage: Option<OrganizationUsage>,
    pub allow_any_organization: bool,
    #[serde(flatten)]
    pub inert: ClientGrantInertSettings,
}

inert_settings!(
    /// Auth0 client-grant properties kept and returned without effect
    /// (README).
    ClientGrantInertSettings {
        default_for: String,
        subject_type: String,
        authorization_details_types: Vec<String>,
        allow_all_scopes: bool,
    }
);

impl From<ClientGrant> for ClientGrantBody {
    fn from(g: ClientGrant) -> Self {
        ClientGrantBody {
            id: g.id,
            client_id: g.client_id,
            audience: g.audience,
            scope: g.scope,
            organization_usage: g.organization_usage,
            allow_any_organization: g.allow_any_organization,
            inert: inert::returned(&g.inert_settings),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClientGrantBody {
    pub client_id: String,
    /// The identifier of a resource server, or the Management API's (`<issuer>/api/v2/`).
    pub audience: String,
    pub scope: Vec<String>,
    pub organization_usage: Option<OrganizationUsage>,
    pub allow_any_organization: Option<bool>,
    #[serde(flatten)]
    pub inert: ClientGrantInertSettings,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClientGrantBody {
    pub scope: Option<Vec<String>>,
    /// `null` unsets it (organizations refused, as `deny`), as Auth0.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<OrganizationUsage>)]
    pub organization_usage: Option<Option<OrganizationUsage>>,
    /// `null` resets it to false, as Auth0.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<bool>)]
    pub allow_any_organization: Option<Option<bool>>,
    #[serde(flatten)]
    pub inert: ClientGrantInertSettings,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClientGrantQuery {
    pub client_id: Option<String>,
    pub audience: Option<String>,
}

fn grant_not_found(err: StoreError) -> ApiError {
    ApiError::from_store(
        err,
        "The client grant does not exist",
        "inexistent_client_grant",
    )
}

/// A grant's audience must be the Management API or a registered resource
/// server (404 as Auth0 otherwise), and its scopes must be scopes of that API.
async fn check_grant_scope(
    state: &AppState,
    audience: &str,
    scope: &[String],
) -> Result<(), ApiError> {
    check_scope_values("scope", scope)?;
    // None: the Management API, whose scopes are ALL_SCOPES.
    let api = if audience == state.issuer.management_audience() {
        None
    } else {
        Some(
            state
                .store
                .get_resource_server_by_identifier(audience)
                .await
                .map_err(|e| {
                    ApiError::from_store(
                        e,
                        &format!("No resource server found by identifier: {audience}"),
                        "inexistent_resource_server",
                    )
                })?,
        )
    };
    let unknown = scope.iter().enumerate().find(|(_, s)| match &api {
        None => !ALL_SCOPES.contains(&s.as_str()),
        Some(rs) => !rs.has_scope(s),
    });
    if let Some((i, unknown)) = unknown {
        let api_name = api
            .as_ref()
            .map_or("the Management API", |rs| rs.identifier.as_str());
        return Err(ValidationError::new(
            format!("scope[{i}]"),
            format!("'{unknown}' is not a scope of {api_name}"),
        )
        .into());
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v2/client-grants", tag = "client-grants", request_body = CreateClientGrantBody,
    responses((status = 201, body = ClientGrantBody), (status = 400, body = ApiErrorBody),
        (status = 404, description = "No such audience", body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn client_grants_post(
    auth: ManagementAuth,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateClientGrantBody>,
) -> Result<(StatusCode, Json<ClientGrantBody>), ApiError> {
    auth.require("create:client_grants")?;
    if state
        .clients
        .get(&state.store, &body.client_id)
        .await?
        .is_none()
    {
        return Err(ValidationError::new("client_id", "client does not exist").into());
    }
    check_grant_scope(&state, &body.audience, &body.scope).await?;
    let grant = ClientGrant {
        id: ids::new_id(ids::CLIENT_GRANT),
        client_id: body.client_id,
        audience: body.audience,
        scope: body.scope,
        organization_usage: body.organization_usage,
        allow_any_organization: body.allow_any_organization.unwrap_or(false),
        inert_settings: inert::stored(&body.inert),
    };
    state.store.insert_client_grant(&grant).await?;
    state
        .cached_data_changed(Change::ClientGrant {
            client_id: grant.client_id.clone(),
            audience: grant.audience.clone(),
        })
        .await;
    Ok((StatusCode::CREATED, Json(grant.into())))
}

list_body!(ClientGrantList, "client_grants", ClientGrantBody);

#[utoipa::path(get, path = "/api/v2/client-grants", tag = "client-grants", params(ClientGrantQuery, Paging),
    responses((status = 200, description = "An array, or `{client_grants, start, limit, total}` with include_totals", body = ClientGrantList)))]
async fn client_grants_list(
    auth: ManagementAuth,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ClientGrantQuery>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth.require("read:client_grants")?;
    let filter = ClientGrantFilter {
        client_id: query.client_id,
        audience: query.audience,
    };
    list_page(
        "client_grants",
        &paging,
        async |page| state.store.list_client_grants(&filter, page).await,
        |g: &ClientGrantBody| g.id.clone(),
        state.store.count_client_grants(&filter),
    )
    .await
}

#[utoipa::path(patch, path = "/api/v2/client-grants/{id}", tag = "client-grants", params(("id" = String, Path)),
    request_body = UpdateClientGrantBody,
    responses((status = 200, body = ClientGrantBody), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn client_grant_patch(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateClientGrantBody>,
) -> Result<Json<ClientGrantBody>, ApiError> {
    auth.require("update:client_grants")?;
    let audience = state
        .store
        .get_client_grant(&id)
        .await
        .map_err(grant_not_found)?
        .audience;
    if let Some(scope) = &body.scope {
        check_grant_scope(&state, &audience, scope).await?;
    }
    // The audience never changes: the scope checked above is checked against
    // the grant's own API.
    let grant = state
        .store
        .update_client_grant_with(&id, |mut grant| {
            if let Some(scope) = body.scope {
                grant.scope = scope;
            }
            if let Some(usage) = body.organization_usage {
                grant.organization_usage = usage;
            }
            if let Some(v) = body.allow_any_organization {
                grant.allow_any_organization = v.unwrap_or(false);
            }
            inert::merge(&mut grant.inert_settings, &body.inert);
            Ok::<_, ApiError>(grant)
        })
        .await
        .map_err(grant_not_found)??;
    state
        .cached_data_changed(Change::ClientGrant {
            client_id: grant.client_id.clone(),
            audience: grant.audience.clone(),
        })
        .await;
    Ok(Json(grant.into()))
}

#[utoipa::path(delete, path = "/api/v2/client-grants/{id}", tag = "client-grants", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ApiErrorBody)))]
async fn client_grant_delete(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require("delete:client_grants")?;
    let grant = state
        .store
        .get_client_grant(&id)
        .await
        .map_err(grant_not_found)?;
    state
        .store
        .delete_client_grant(&id)
        .await
        .map_err(grant_not_found)?;
    state
        .cached_data_changed(Change::ClientGrant {
            client_id: grant.client_id.clone(),
            audience: grant.audience.clone(),
        })
        .await;
    Ok(StatusCode::NO_CONTENT)
}
