//! `/resource-servers` (APIs) and `/roles/{id}/permissions`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::inert::{self, Object, inert_settings};
use super::roles::role_not_found;
use super::{ApiJson, ApiQuery, ManagementAuth, PageMode, Paging, list_page};
use crate::cache::Change;
use crate::http::error::{ApiError, ApiErrorBody};
use crate::model::ValidationError;
use crate::model::client::SigningAlg;
use crate::model::ids;
use crate::model::resource_server::{
    self, DEFAULT_TOKEN_LIFETIME, ResourceServer, Scope, TokenDialect,
};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::resource_servers::{PermissionRef, RolePermission};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(resource_servers_list, resource_servers_post))
        .routes(routes!(
            resource_server_get,
            resource_server_patch,
            resource_server_delete
        ))
        .routes(routes!(
            role_permissions_list,
            role_permissions_post,
            role_permissions_delete
        ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceServerBody {
    pub id: String,
    pub name: String,
    pub identifier: String,
    pub scopes: Vec<Scope>,
    pub signing_alg: SigningAlg,
    pub token_lifetime: i64,
    pub allow_offline_access: bool,
    pub skip_consent_for_verifiable_first_party_clients: bool,
    pub enforce_policies: bool,
    pub token_dialect: TokenDialect,
    #[serde(flatten)]
    pub inert: ResourceServerInertSettings,
}

inert_settings!(
    /// Auth0 resource-server properties kept and returned without effect
    /// (README).
    ResourceServerInertSettings {
        allow_online_access: bool,
        allow_online_access_with_ephemeral_sessions: bool,
        token_lifetime_for_anonymous_access_tokens: i64,
        token_encryption: Object,
        consent_policy: String,
        authorization_details: Vec<Value>,
        proof_of_possession: Object,
        subject_type_authorization: Object,
        authorization_policy: Object,
    }
);

impl From<ResourceServer> for ResourceServerBody {
    fn from(rs: ResourceServer) -> Self {
        ResourceServerBody {
            id: rs.id,
            name: rs.name,
            identifier: rs.identifier,
            scopes: rs.scopes,
            signing_alg: rs.signing_alg,
            token_lifetime: rs.token_lifetime,
            allow_offline_access: rs.allow_offline_access,
            skip_consent_for_verifiable_first_party_clients: rs
                .skip_consent_for_verifiable_first_party_clients,
            enforce_policies: rs.enforce_policies,
            token_dialect: rs.token_dialect,
            inert: inert::returned(&rs.inert_settings),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateResourceServerBody {
    /// The audience of the API's tokens: a URI or any string up to 600
    /// characters; unique, and fixed once set.
    pub identifier: String,
    /// Default: the identifier (its first 200 characters).
    pub name: Option<String>,
    pub scopes: Option<Vec<Scope>>,
    /// Default `RS256`.
    pub signing_alg: Option<SigningAlg>,
    /// Seconds, 1–2592000; default 86400.
    pub token_lifetime: Option<i64>,
    pub allow_offline_access: Option<bool>,
    pub skip_consent_for_verifiable_first_party_clients: Option<bool>,
    pub enforce_policies: Option<bool>,
    pub token_dialect: Option<TokenDialect>,
    /// Taken and dropped: no token is signed with HS256 here, and a secret
    /// without a use is not kept.
    #[serde(rename = "signing_secret")]
    pub _signing_secret: Option<String>,
    #[serde(flatten)]
    pub inert: ResourceServerInertSettings,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateResourceServerBody {
    pub name: Option<String>,
    /// Replaces the list; role permissions on scopes left out are removed.
    pub scopes: Option<Vec<Scope>>,
    pub signing_alg: Option<SigningAlg>,
    pub token_lifetime: Option<i64>,
    pub allow_offline_access: Option<bool>,
    pub skip_consent_for_verifiable_first_party_clients: Option<bool>,
    pub enforce_policies: Option<bool>,
    pub token_dialect: Option<TokenDialect>,
    /// Refused: an identifier cannot be changed.
    pub identifier: Option<String>,
    /// Taken and dropped, as on creation.
    #[serde(rename = "signing_secret")]
    pub _signing_secret: Option<String>,
    #[serde(flatten)]
    pub inert: ResourceServerInertSettings,
}

pub(super) fn resource_server_not_found(err: StoreError) -> ApiError {
    ApiError::from_store(
        err,
        "The resource server does not exist",
        "inexistent_resource_server",
    )
}

/// The resource server named by `id_or_identifier`: its id, or (as Auth0
/// allows) its identifier, URL-encoded in the path.
async fn find(state: &AppState, id_or_identifier: &str) -> Result<ResourceServer, ApiError> {
    let by_id = if ids::has_prefix(id_or_identifier, ids::RESOURCE_SERVER) {
        state.store.get_resource_server(id_or_identifier).await
    } else {
        Err(StoreError::NotFound)
    };
    match by_id {
        Err(StoreError::NotFound) => state
            .store
            .get_resource_server_by_identifier(id_or_identifier)
            .await
            .map_err(resource_server_not_found),
        other => other.map_err(resource_server_not_found),
    }
}

#[utoipa::path(post, path = "/api/v2/resource-servers", tag = "resource-servers", request_body = CreateResourceServerBody,
    responses((status = 201, body = ResourceServerBody), (status = 400, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn resource_servers_post(
    auth: ManagementAuth,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateResourceServerBody>,
) -> Result<(StatusCode, Json<ResourceServerBody>), ApiError> {
    auth.require("create:resource_servers")?;
    let rs = ResourceServer {
        id: ids::new_id(ids::RESOURCE_SERVER),
        name: body
            .name
            .unwrap_or_else(|| resource_server::default_name(&body.identifier)),
        identifier: body.identifier,
        scopes: body.scopes.unwrap_or_default(),
        signing_alg: body.signing_alg.unwrap_or(SigningAlg::RS256),
        token_lifetime: body.token_lifetime.unwrap_or(DEFAULT_TOKEN_LIFETIME),
        allow_offline_access: body.allow_offline_access.unwrap_or(false),
        skip_consent_for_verifiable_first_party_clients: body
            .skip_consent_for_verifiable_first_party_clients
            .unwrap_or(true),
        enforce_policies: body.enforce_policies.unwrap_or(false),
        token_dialect: body.token_dialect.unwrap_or(TokenDialect::AccessToken),
        inert_settings: inert::stored(&body.inert),
    };
    rs.check()?;
    // The Management API is a resource server of its own (not stored): its
    // audience cannot be taken by another.
    if rs.identifier == state.issuer.management_audience() {
        return Err(ApiError::conflict(
            "A resource server with this identifier already exists",
        ));
    }
    state.store.insert_resource_server(&rs).await?;
    // An unknown identifier is remembered as unknown until now.
    state.resource_server_changed(&rs.identifier).await;
    Ok((StatusCode::CREATED, Json(rs.into())))
}

list_body!(ResourceServerList, "resource_servers", ResourceServerBody);

#[utoipa::path(get, path = "/api/v2/resource-servers", tag = "resource-servers", params(Paging),
    responses((status = 200, description = "An array, or `{resource_servers, start, limit, total}` with include_totals", body = ResourceServerList)))]
async fn resource_servers_list(
    auth: ManagementAuth,
    State(state): State<AppState>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth.require("read:resource_servers")?;
    list_page(
        "resource_servers",
        &paging,
        async |page| state.store.list_resource_servers(page).await,
        |rs: &ResourceServerBody| rs.id.clone(),
        state.store.count_resource_servers(),
    )
    .await
}

#[utoipa::path(get, path = "/api/v2/resource-servers/{id}", tag = "resource-servers",
    params(("id" = String, Path, description = "The id, or the identifier (URL-encoded)")),
    responses((status = 200, body = ResourceServerBody), (status = 404, body = ApiErrorBody)))]
async fn resource_server_get(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ResourceServerBody>, ApiError> {
    auth.require("read:resource_servers")?;
    Ok(Json(find(&state, &id).await?.into()))
}

#[utoipa::path(patch, path = "/api/v2/resource-servers/{id}", tag = "resource-servers",
    params(("id" = String, Path, description = "The id, or the identifier (URL-encoded)")),
    request_body = UpdateResourceServerBody,
    responses((status = 200, body = ResourceServerBody), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn resource_server_patch(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateResourceServerBody>,
) -> Result<Json<ResourceServerBody>, ApiError> {
    auth.require("update:resource_servers")?;
    if body.identifier.is_some() {
        return Err(ValidationError::new("identifier", "cannot be changed").into());
    }
    // `id` may be the identifier: find the row, then update it by its id.
    let id = find(&state, &id).await?.id;
    let rs = state
        .store
        .update_resource_server_with(&id, |mut rs| {
            macro_rules! set {
                ($($field:ident),*) => { $(if let Some(v) = body.$field { rs.$field = v; })* };
            }
            set!(
                name,
                scopes,
                signing_alg,
                token_lifetime,
                allow_offline_access,
                skip_consent_for_verifiable_first_party_clients,
                enforce_policies,
                token_dialect
            );
            inert::merge(&mut rs.inert_settings, &body.inert);
            rs.check()?;
            Ok::<_, ApiError>(rs)
        })
        .await
        .map_err(resource_server_not_found)??;
    state.resource_server_changed(&rs.identifier).await;
    Ok(Json(rs.into()))
}

#[utoipa::path(delete, path = "/api/v2/resource-servers/{id}", tag = "resource-servers",
    params(("id" = String, Path, description = "The id, or the identifier (URL-encoded)")),
    responses((status = 204), (status = 404, body = ApiErrorBody)))]
async fn resource_server_delete(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require("delete:resource_servers")?;
    let rs = find(&state, &id).await?;
    let grant_clients = state
        .store
        .delete_resource_server(&rs.id)
        .await
        .map_err(resource_server_not_found)?;
    state.resource_server_changed(&rs.identifier).await;
    for client_id in grant_clients {
        state
            .cached_data_changed(Change::ClientGrant {
                client_id,
                audience: rs.identifier.clone(),
            })
            .await;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionBody {
    pub permission_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub resource_server_name: String,
    pub resource_server_identifier: String,
}

impl From<RolePermission> for PermissionBody {
    fn from(p: RolePermission) -> Self {
        PermissionBody {
            permission_name: p.permission_name,
            description: p.description,
            resource_server_name: p.resource_server_name,
            resource_server_identifier: p.resource_server_identifier,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionRefBody {
    pub resource_server_identifier: String,
    pub permission_name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionsBody {
    pub permissions: Vec<PermissionRefBody>,
}

/// The permissions of a request, each checked to be a scope of its resource
/// server (400 naming the entry otherwise).
async fn resolve_permissions(
    state: &AppState,
    body: PermissionsBody,
) -> Result<Vec<PermissionRef>, ApiError> {
    if body.permissions.is_empty() || body.permissions.len() > 100 {
        return Err(ValidationError::new("permissions", "must list 1 to 100 permissions").into());
    }
    let mut resolved = Vec::with_capacity(body.permissions.len());
    for (i, p) in body.permissions.into_iter().enumerate() {
        let rs = match state
            .store
            .get_resource_server_by_identifier(&p.resource_server_identifier)
            .await
        {
            Ok(rs) => rs,
            Err(StoreError::NotFound) => {
                return Err(ValidationError::new(
                    format!("permissions[{i}].resource_server_identifier"),
                    format!(
                        "no resource server has the identifier '{}'",
                        p.resource_server_identifier
                    ),
                )
                .into());
            }
            Err(e) => return Err(e.into()),
        };
        if !rs.has_scope(&p.permission_name) {
            return Err(ValidationError::new(
                format!("permissions[{i}].permission_name"),
                format!(
                    "'{}' is not a scope of {}",
                    p.permission_name, rs.identifier
                ),
            )
            .into());
        }
        resolved.push(PermissionRef {
            resource_server_id: rs.id,
            permission_name: p.permission_name,
        });
    }
    Ok(resolved)
}

/// A role's permissions reference scopes; a scope removed between the check
/// and the write is a bad request, like one that never existed.
fn permission_write_error(err: StoreError) -> ApiError {
    match err {
        StoreError::MissingReference => {
            ApiError::bad_request("A permission's scope no longer exists on its resource server")
        }
        other => role_not_found(other),
    }
}

list_body!(PermissionList, "permissions", PermissionBody, offset_only);

#[utoipa::path(get, path = "/api/v2/roles/{id}/permissions", tag = "roles",
    params(("id" = String, Path), Paging),
    responses((status = 200, description = "An array, or `{permissions, start, limit, total}` with include_totals", body = PermissionList),
        (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn role_permissions_list(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth.require("read:roles")?;
    if matches!(paging.mode()?.0, PageMode::Checkpoint { .. }) {
        // As in Auth0: a permission has no id to resume after.
        return Err(ApiError::invalid_query(
            "Query validation error: role permissions page with page/per_page, not from/take",
        ));
    }
    state.store.get_role(&id).await.map_err(role_not_found)?;
    list_page(
        "permissions",
        &paging,
        async |page| state.store.list_role_permissions(&id, page).await,
        |p: &PermissionBody| p.permission_name.clone(),
        state.store.count_role_permissions(&id),
    )
    .await
}

#[utoipa::path(post, path = "/api/v2/roles/{id}/permissions", tag = "roles",
    params(("id" = String, Path)), request_body = PermissionsBody,
    responses((status = 201), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn role_permissions_post(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PermissionsBody>,
) -> Result<StatusCode, ApiError> {
    auth.require("update:roles")?;
    state.store.get_role(&id).await.map_err(role_not_found)?;
    let permissions = resolve_permissions(&state, body).await?;
    state
        .store
        .insert_role_permissions(&id, &permissions)
        .await
        .map_err(permission_write_error)?;
    // Auth0 answers 201 with an empty body.
    Ok(StatusCode::CREATED)
}

#[utoipa::path(delete, path = "/api/v2/roles/{id}/permissions", tag = "roles",
    params(("id" = String, Path)), request_body = PermissionsBody,
    responses((status = 204), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn role_permissions_delete(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PermissionsBody>,
) -> Result<StatusCode, ApiError> {
    auth.require("update:roles")?;
    state.store.get_role(&id).await.map_err(role_not_found)?;
    let permissions = resolve_permissions(&state, body).await?;
    state
        .store
        .delete_role_permissions(&id, &permissions)
        .await
        .map_err(permission_write_error)?;
    Ok(StatusCode::NO_CONTENT)
}
