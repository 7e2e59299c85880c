//! `/organizations` and `/organizations/{id}/enabled_connections`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::inert::{self, Object, inert_settings};
use super::{ApiJson, ApiQuery, ManagementAuth, Paging, list_page, nullable};
use crate::cache::Change;
use crate::http::error::{ApiError, ApiErrorBody};
use crate::model::connection::{
    EnabledConnection, EnabledConnectionRequest, OrganizationAccessLevel, Strategy,
};
use crate::model::ids;
use crate::model::organization::{self, Branding, DomainMembership, Metadata, Organization};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::organizations::EnabledConnectionView;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(organizations_list, organizations_post))
        .routes(routes!(
            organization_get,
            organization_patch,
            organization_delete
        ))
        .routes(routes!(organization_by_name_get))
        .routes(routes!(enabled_connections_list, enabled_connections_post))
        .routes(routes!(
            enabled_connection_get,
            enabled_connection_patch,
            enabled_connection_delete
        ))
}

pub(super) fn organization_not_found(err: StoreError) -> ApiError {
    ApiError::from_store(
        err,
        "No organization found by that id or name",
        "inexistent_organization",
    )
}

/// An organization as the API returns it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationBody {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branding: Option<Branding>,
    #[schema(value_type = Object)]
    pub metadata: Metadata,
    /// Switchyard extension: what a user whose verified email lies in one
    /// of the organization's verified discovery domains may do after login.
    pub domain_membership: DomainMembership,
    #[serde(flatten)]
    pub inert: OrganizationInertSettings,
}

inert_settings!(
    /// Auth0 organization properties kept and returned without effect (README).
    OrganizationInertSettings {
        token_quota: Object,
        third_party_client_access: String,
        is_app_entitlement_active: bool,
    }
);

impl From<Organization> for OrganizationBody {
    fn from(org: Organization) -> Self {
        OrganizationBody {
            id: org.id,
            name: org.name,
            display_name: org.display_name,
            branding: org.branding,
            metadata: org.metadata,
            domain_membership: org.domain_membership,
            inert: inert::returned(&org.inert_settings),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganizationBody {
    /// Lowercase slug, unique in the tenant.
    pub name: String,
    pub display_name: Option<String>,
    pub branding: Option<Branding>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Metadata>,
    /// Connections to enable at creation.
    pub enabled_connections: Option<Vec<EnableConnectionBody>>,
    /// Switchyard extension (default `off`): `auto` lets a user whose
    /// verified email lies in one of the organization's verified discovery
    /// domains join when they pick it after login, `suggest` after they
    /// confirm, `admin_approval` once an admin approves their request.
    pub domain_membership: Option<DomainMembership>,
    #[serde(flatten)]
    pub inert: OrganizationInertSettings,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganizationBody {
    pub name: Option<String>,
    /// `null` clears it (so for `branding`; `metadata: null` empties it).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Branding>)]
    pub branding: Option<Option<Branding>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Option<Metadata>>,
    /// Switchyard extension; see the create body.
    pub domain_membership: Option<DomainMembership>,
    #[serde(flatten)]
    pub inert: OrganizationInertSettings,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnableConnectionBody {
    pub connection_id: String,
    pub assign_membership_on_login: Option<bool>,
    /// Database connections only; needs `assign_membership_on_login`.
    pub is_signup_enabled: Option<bool>,
    /// Default true (Auth0's); only enterprise connections' buttons follow it.
    pub show_as_button: Option<bool>,
    pub organization_connection_name: Option<String>,
    pub organization_access_level: Option<OrganizationAccessLevel>,
    /// Switchyard's extension for one connection shared by many
    /// organizations (an `oidc` connection with
    /// `options.organization_from_upstream_tenant`, e.g. multi-tenant Entra
    /// ID): the upstream tenant (the verified ID token's `tid`, or a Google
    /// Workspace `hd`) whose people log in to this organization through
    /// this connection. Unique per connection; `oidc` connections only.
    #[schema(example = "9188040d-6c67-4c5b-b112-36a304b66dad")]
    pub upstream_tenant_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEnabledConnectionBody {
    pub assign_membership_on_login: Option<bool>,
    pub is_signup_enabled: Option<bool>,
    pub show_as_button: Option<bool>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub organization_connection_name: Option<Option<String>>,
    pub organization_access_level: Option<OrganizationAccessLevel>,
    /// `null` clears it (see the create body).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub upstream_tenant_id: Option<Option<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnabledConnectionBody {
    pub connection_id: String,
    pub assign_membership_on_login: bool,
    pub is_signup_enabled: bool,
    pub show_as_button: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_connection_name: Option<String>,
    pub organization_access_level: OrganizationAccessLevel,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_tenant_id: Option<String>,
    pub connection: ConnectionSummary,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionSummary {
    pub name: String,
    pub strategy: Strategy,
}

impl From<EnabledConnectionView> for EnabledConnectionBody {
    fn from(view: EnabledConnectionView) -> Self {
        let e = view.enabled;
        EnabledConnectionBody {
            connection_id: e.connection_id,
            assign_membership_on_login: e.assign_membership_on_login,
            is_signup_enabled: e.is_signup_enabled,
            show_as_button: e.show_as_button,
            organization_connection_name: e.organization_connection_name,
            organization_access_level: e.organization_access_level,
            upstream_tenant_id: e.upstream_tenant_id,
            connection: ConnectionSummary {
                name: view.connection_name,
                strategy: view.strategy,
            },
        }
    }
}

fn check_organization(org: &Organization) -> Result<(), ApiError> {
    organization::check_name(&org.name)?;
    if let Some(display_name) = &org.display_name {
        organization::check_display_name(display_name)?;
    }
    if let Some(branding) = &org.branding {
        organization::check_branding(branding)?;
    }
    organization::check_organization_metadata(&org.metadata)?;
    Ok(())
}

impl EnableConnectionBody {
    fn request(&self) -> EnabledConnectionRequest {
        EnabledConnectionRequest {
            assign_membership_on_login: self.assign_membership_on_login,
            is_signup_enabled: self.is_signup_enabled,
            show_as_button: self.show_as_button,
            organization_connection_name: self.organization_connection_name.clone().map(Some),
            organization_access_level: self.organization_access_level,
            upstream_tenant_id: self.upstream_tenant_id.clone().map(Some),
        }
    }
}

/// Builds a checked enabled connection for `organization_id` from a request body.
async fn new_enabled_connection(
    state: &AppState,
    organization_id: &str,
    body: &EnableConnectionBody,
) -> Result<EnabledConnection, ApiError> {
    let connection = state.store.get_connection(&body.connection_id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::bad_request(format!(
            "Payload validation error: connection '{}' does not exist on property connection_id",
            body.connection_id
        )),
        other => other.into(),
    })?;
    Ok(
        EnabledConnection::new_default(organization_id, &connection.id)
            .apply(connection.strategy, &body.request())?,
    )
}

#[utoipa::path(post, path = "/api/v2/organizations", tag = "organizations",
    request_body = CreateOrganizationBody,
    responses((status = 201, body = OrganizationBody), (status = 400, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn organizations_post(
    auth: ManagementAuth,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateOrganizationBody>,
) -> Result<(StatusCode, Json<OrganizationBody>), ApiError> {
    auth.require("create:organizations")?;
    let org = Organization {
        id: ids::new_id(ids::ORGANIZATION),
        name: body.name,
        display_name: body.display_name,
        branding: body.branding,
        metadata: body.metadata.unwrap_or_default(),
        inert_settings: inert::stored(&body.inert),
        domain_membership: body.domain_membership.unwrap_or_default(),
    };
    check_organization(&org)?;
    let mut enabled = Vec::new();
    for connection in body.enabled_connections.iter().flatten() {
        enabled.push(new_enabled_connection(&state, &org.id, connection).await?);
    }
    state.store.insert_organization(&org, &enabled).await?;
    state.cached_data_changed(Change::Organizations).await;
    Ok((StatusCode::CREATED, Json(org.into())))
}

list_body!(OrganizationList, "organizations", OrganizationBody);

#[utoipa::path(get, path = "/api/v2/organizations", tag = "organizations", params(Paging),
    responses((status = 200, description = "An array, or `{organizations, start, limit, total}` with include_totals, or `{organizations, next}` with from/take", body = OrganizationList)))]
async fn organizations_list(
    auth: ManagementAuth,
    State(state): State<AppState>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth.require("read:organizations")?;
    list_page(
        "organizations",
        &paging,
        async |page| state.store.list_organizations(page).await,
        |o: &OrganizationBody| o.id.clone(),
        state.store.count_organizations(),
    )
    .await
}

#[utoipa::path(get, path = "/api/v2/organizations/{id}", tag = "organizations",
    params(("id" = String, Path)),
    responses((status = 200, body = OrganizationBody), (status = 404, body = ApiErrorBody)))]
async fn organization_get(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<OrganizationBody>, ApiError> {
    auth.require("read:organizations")?;
    let org = state
        .store
        .get_organization(&id)
        .await
        .map_err(organization_not_found)?;
    Ok(Json(org.into()))
}

#[utoipa::path(get, path = "/api/v2/organizations/name/{name}", tag = "organizations",
    params(("name" = String, Path)),
    responses((status = 200, body = OrganizationBody), (status = 404, body = ApiErrorBody)))]
async fn organization_by_name_get(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<OrganizationBody>, ApiError> {
    auth.require("read:organizations")?;
    let org = state
        .store
        .get_organization_by_name(&name)
        .await
        .map_err(organization_not_found)?;
    Ok(Json(org.into()))
}

#[utoipa::path(patch, path = "/api/v2/organizations/{id}", tag = "organizations",
    params(("id" = String, Path)), request_body = UpdateOrganizationBody,
    responses((status = 200, body = OrganizationBody), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn organization_patch(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateOrganizationBody>,
) -> Result<Json<OrganizationBody>, ApiError> {
    auth.require("update:organizations")?;
    let org = state
        .store
        .update_organization_with(&id, |mut org| {
            if let Some(name) = body.name {
                org.name = name;
            }
            if let Some(display_name) = body.display_name {
                org.display_name = display_name;
            }
            if let Some(branding) = body.branding {
                org.branding = branding;
            }
            if let Some(metadata) = body.metadata {
                org.metadata = metadata.unwrap_or_default();
            }
            if let Some(domain_membership) = body.domain_membership {
                org.domain_membership = domain_membership;
            }
            inert::merge(&mut org.inert_settings, &body.inert);
            check_organization(&org)?;
            Ok::<_, ApiError>(org)
        })
        .await
        .map_err(organization_not_found)??;
    state.cached_data_changed(Change::Organizations).await;
    Ok(Json(org.into()))
}

#[utoipa::path(delete, path = "/api/v2/organizations/{id}", tag = "organizations",
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ApiErrorBody)))]
async fn organization_delete(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require("delete:organizations")?;
    // Its domains go with it: each is a routing change of its own.
    let domains = state
        .store
        .delete_organization(&id)
        .await
        .map_err(organization_not_found)?;
    state.cached_data_changed(Change::Organizations).await;
    state.domains_changed(domains).await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v2/organizations/{id}/enabled_connections", tag = "organizations",
    params(("id" = String, Path)), request_body = EnableConnectionBody,
    responses((status = 201, body = EnabledConnectionBody), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn enabled_connections_post(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<EnableConnectionBody>,
) -> Result<(StatusCode, Json<EnabledConnectionBody>), ApiError> {
    auth.require("create:organization_connections")?;
    state
        .store
        .get_organization(&id)
        .await
        .map_err(organization_not_found)?;
    let enabled = new_enabled_connection(&state, &id, &body).await?;
    state.store.insert_enabled_connection(&enabled).await?;
    state.cached_data_changed(Change::Organizations).await;
    let view = state
        .store
        .get_enabled_connection(&id, &enabled.connection_id)
        .await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

list_body!(
    EnabledConnectionList,
    "enabled_connections",
    EnabledConnectionBody
);

#[utoipa::path(get, path = "/api/v2/organizations/{id}/enabled_connections", tag = "organizations",
    params(("id" = String, Path), Paging),
    responses((status = 200, description = "An array, or `{enabled_connections, start, limit, total}` with include_totals", body = EnabledConnectionList), (status = 404, body = ApiErrorBody)))]
async fn enabled_connections_list(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth.require("read:organization_connections")?;
    state
        .store
        .get_organization(&id)
        .await
        .map_err(organization_not_found)?;
    list_page(
        "enabled_connections",
        &paging,
        async |page| state.store.list_enabled_connections(&id, page).await,
        |c: &EnabledConnectionBody| c.connection_id.clone(),
        state.store.count_enabled_connections(&id),
    )
    .await
}

fn enabled_not_found(err: StoreError) -> ApiError {
    ApiError::from_store(
        err,
        "The connection is not enabled for this organization",
        "inexistent_organization_connection",
    )
}

#[utoipa::path(get, path = "/api/v2/organizations/{id}/enabled_connections/{connection_id}", tag = "organizations",
    params(("id" = String, Path), ("connection_id" = String, Path)),
    responses((status = 200, body = EnabledConnectionBody), (status = 404, body = ApiErrorBody)))]
async fn enabled_connection_get(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path((id, connection_id)): Path<(String, String)>,
) -> Result<Json<EnabledConnectionBody>, ApiError> {
    auth.require("read:organization_connections")?;
    let view = state
        .store
        .get_enabled_connection(&id, &connection_id)
        .await
        .map_err(enabled_not_found)?;
    Ok(Json(view.into()))
}

#[utoipa::path(patch, path = "/api/v2/organizations/{id}/enabled_connections/{connection_id}", tag = "organizations",
    params(("id" = String, Path), ("connection_id" = String, Path)), request_body = UpdateEnabledConnectionBody,
    responses((status = 200, body = EnabledConnectionBody), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn enabled_connection_patch(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path((id, connection_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateEnabledConnectionBody>,
) -> Result<Json<EnabledConnectionBody>, ApiError> {
    auth.require("update:organization_connections")?;
    let request = EnabledConnectionRequest {
        assign_membership_on_login: body.assign_membership_on_login,
        is_signup_enabled: body.is_signup_enabled,
        show_as_button: body.show_as_button,
        organization_connection_name: body.organization_connection_name,
        organization_access_level: body.organization_access_level,
        upstream_tenant_id: body.upstream_tenant_id,
    };
    let view = state
        .store
        .update_enabled_connection_with(&id, &connection_id, |view| {
            Ok::<_, ApiError>(EnabledConnectionView {
                enabled: view.enabled.apply(view.strategy, &request)?,
                ..view
            })
        })
        .await
        .map_err(enabled_not_found)??;
    state.cached_data_changed(Change::Organizations).await;
    Ok(Json(view.into()))
}

#[utoipa::path(delete, path = "/api/v2/organizations/{id}/enabled_connections/{connection_id}", tag = "organizations",
    params(("id" = String, Path), ("connection_id" = String, Path)),
    responses((status = 204), (status = 404, body = ApiErrorBody)))]
async fn enabled_connection_delete(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path((id, connection_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    auth.require("delete:organization_connections")?;
    let rebound = state
        .store
        .delete_enabled_connection(&id, &connection_id)
        .await
        .map_err(enabled_not_found)?;
    state.cached_data_changed(Change::Organizations).await;
    state.domains_changed(rebound).await;
    Ok(StatusCode::NO_CONTENT)
}
