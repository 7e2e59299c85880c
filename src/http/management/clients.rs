//! `/clients`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ApiQuery, ManagementAuth, Paging, list_page, nullable};
use crate::cache::Change;
use crate::flows::client_auth::hash_client_secret;
use crate::http::error::{ApiError, ApiErrorBody};
use crate::model::client::{
    AppType, Client, GrantType, OrganizationRequireBehavior, OrganizationUsage, SigningAlg,
    TokenEndpointAuthMethod, check_backchannel_logout_url,
};
use crate::model::ids;
use crate::state::AppState;
use crate::store::StoreError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(clients_list, clients_post))
        .routes(routes!(client_get, client_patch, client_delete))
        .routes(routes!(client_rotate_secret_post))
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtConfiguration {
    /// Signing algorithm of this client's ID and access tokens.
    pub alg: SigningAlg,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientBody {
    pub client_id: String,
    /// Only in the response that created or rotated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub app_type: AppType,
    pub is_first_party: bool,
    pub callbacks: Vec<String>,
    pub allowed_logout_urls: Vec<String>,
    /// Origins (`scheme://host[:port]`, one `*` subdomain label allowed)
    /// whose pages may call `/oauth/token`, `/oauth/revoke` and `/userinfo`.
    pub web_origins: Vec<String>,
    /// Auth0's "Allowed Origins (CORS)": taken as `web_origins` is.
    pub allowed_origins: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    pub organization_usage: OrganizationUsage,
    pub organization_require_behavior: OrganizationRequireBehavior,
    pub jwt_configuration: JwtConfiguration,
    #[schema(value_type = Object)]
    pub client_metadata: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oidc_logout: Option<OidcLogout>,
}

/// Auth0's `oidc_logout`: where the client takes OpenID Connect
/// Back-Channel Logout tokens.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcLogout {
    /// One URL (as in Auth0); an empty list turns back-channel logout off.
    pub backchannel_logout_urls: Vec<String>,
    /// Every session end is announced: only `{"mode": "all"}` is taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_initiators: Option<LogoutInitiators>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutInitiators {
    pub mode: String,
    /// Auth0's list for `mode: custom`; taken (and not kept) so that
    /// exported client definitions load, as long as the mode is `all`.
    #[serde(default, skip_serializing)]
    pub selected_initiators: Option<Vec<String>>,
}

impl OidcLogout {
    fn of(url: Option<String>) -> Option<Self> {
        url.map(|url| OidcLogout {
            backchannel_logout_urls: vec![url],
            backchannel_logout_initiators: Some(LogoutInitiators {
                mode: "all".into(),
                selected_initiators: None,
            }),
        })
    }

    /// The client's back-channel logout URL, if any.
    fn into_url(self) -> Result<Option<String>, ApiError> {
        if let Some(initiators) = &self.backchannel_logout_initiators {
            if initiators.mode != "all" {
                let selected = initiators
                    .selected_initiators
                    .as_deref()
                    .unwrap_or_default()
                    .join(", ");
                return Err(ApiError::bad_request(format!(
                    "Payload validation error: oidc_logout.backchannel_logout_initiators.mode must be 'all' \
                     (every session end is announced; a selection [{selected}] cannot be honoured)"
                )));
            }
        }
        let mut urls = self.backchannel_logout_urls.into_iter();
        let url = urls.next();
        if urls.next().is_some() {
            return Err(ApiError::bad_request(
                "Payload validation error: oidc_logout.backchannel_logout_urls takes one URL",
            ));
        }
        Ok(url)
    }
}

/// A client as listed or read: its secret is shown only once, at creation.
impl From<Client> for ClientBody {
    fn from(client: Client) -> Self {
        ClientBody::new(client, None)
    }
}

impl ClientBody {
    fn new(client: Client, client_secret: Option<String>) -> Self {
        ClientBody {
            client_id: client.client_id,
            client_secret,
            name: client.name,
            description: client.description,
            app_type: client.app_type,
            is_first_party: client.is_first_party,
            callbacks: client.callbacks,
            allowed_logout_urls: client.allowed_logout_urls,
            web_origins: client.web_origins,
            allowed_origins: client.allowed_origins,
            grant_types: client.grant_types,
            token_endpoint_auth_method: client.token_endpoint_auth_method,
            organization_usage: client.organization_usage,
            organization_require_behavior: client.organization_require_behavior,
            jwt_configuration: JwtConfiguration {
                alg: client.signing_alg,
            },
            client_metadata: client.client_metadata,
            oidc_logout: OidcLogout::of(client.backchannel_logout_url),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClientBody {
    pub name: String,
    pub description: Option<String>,
    /// Default `regular_web`.
    pub app_type: Option<AppType>,
    pub is_first_party: Option<bool>,
    pub callbacks: Option<Vec<String>>,
    pub allowed_logout_urls: Option<Vec<String>>,
    /// Origins whose pages may call the token, revocation and userinfo
    /// endpoints from JavaScript (CORS), as `scheme://host[:port]`.
    pub web_origins: Option<Vec<String>>,
    /// As `web_origins` (Auth0's "Allowed Origins (CORS)").
    pub allowed_origins: Option<Vec<String>>,
    pub grant_types: Option<Vec<GrantType>>,
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    pub organization_usage: Option<OrganizationUsage>,
    pub organization_require_behavior: Option<OrganizationRequireBehavior>,
    pub jwt_configuration: Option<JwtConfiguration>,
    #[schema(value_type = Option<Object>)]
    pub client_metadata: Option<Map<String, Value>>,
    pub oidc_logout: Option<OidcLogout>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClientBody {
    pub name: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub app_type: Option<AppType>,
    pub is_first_party: Option<bool>,
    pub callbacks: Option<Vec<String>>,
    pub allowed_logout_urls: Option<Vec<String>>,
    /// Origins whose pages may call the token, revocation and userinfo
    /// endpoints from JavaScript (CORS), as `scheme://host[:port]`.
    pub web_origins: Option<Vec<String>>,
    /// As `web_origins` (Auth0's "Allowed Origins (CORS)").
    pub allowed_origins: Option<Vec<String>>,
    pub grant_types: Option<Vec<GrantType>>,
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    /// `null` resets it to `deny`, as Auth0.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<OrganizationUsage>)]
    pub organization_usage: Option<Option<OrganizationUsage>>,
    /// `null` resets it to `no_prompt`, as Auth0.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<OrganizationRequireBehavior>)]
    pub organization_require_behavior: Option<Option<OrganizationRequireBehavior>>,
    pub jwt_configuration: Option<JwtConfiguration>,
    #[schema(value_type = Option<Object>)]
    pub client_metadata: Option<Map<String, Value>>,
    pub oidc_logout: Option<OidcLogout>,
}

/// Back-channel logout URLs are POSTed to by the server: only where its
/// outbound requests may go.
fn check_backchannel_target(state: &AppState, client: &Client) -> Result<(), ApiError> {
    let Some(url) = &client.backchannel_logout_url else {
        return Ok(());
    };
    check_backchannel_logout_url(url, state.outbound.destinations())?;
    Ok(())
}

fn client_not_found(err: StoreError) -> ApiError {
    ApiError::from_store(err, "The client does not exist", "inexistent_client")
}

/// A new confidential client's secret and its stored hash, or neither for a
/// public client.
pub fn new_secret_for(app_type: AppType) -> (Option<String>, Option<String>) {
    if app_type.is_public() {
        (None, None)
    } else {
        let secret = ids::new_client_secret();
        let hash = hash_client_secret(&secret);
        (Some(secret), Some(hash))
    }
}

#[utoipa::path(post, path = "/api/v2/clients", tag = "clients", request_body = CreateClientBody,
    responses((status = 201, body = ClientBody), (status = 400, body = ApiErrorBody)))]
async fn clients_post(
    auth: ManagementAuth,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateClientBody>,
) -> Result<(StatusCode, Json<ClientBody>), ApiError> {
    auth.require("create:clients")?;
    let app_type = body.app_type.unwrap_or(AppType::RegularWeb);
    let backchannel_logout_url = match body.oidc_logout {
        Some(oidc_logout) => oidc_logout.into_url()?,
        None => None,
    };
    let (secret, secret_hash) = new_secret_for(app_type);
    let client = Client {
        client_id: ids::new_client_id(),
        name: body.name,
        description: body.description,
        app_type,
        client_secret_hash: secret_hash,
        callbacks: body.callbacks.unwrap_or_default(),
        allowed_logout_urls: body.allowed_logout_urls.unwrap_or_default(),
        web_origins: body.web_origins.unwrap_or_default(),
        allowed_origins: body.allowed_origins.unwrap_or_default(),
        grant_types: body
            .grant_types
            .unwrap_or_else(|| app_type.default_grant_types()),
        token_endpoint_auth_method: body
            .token_endpoint_auth_method
            .unwrap_or_else(|| app_type.default_auth_method()),
        organization_usage: body.organization_usage.unwrap_or(OrganizationUsage::Deny),
        organization_require_behavior: body
            .organization_require_behavior
            .unwrap_or(OrganizationRequireBehavior::NoPrompt),
        signing_alg: body.jwt_configuration.map_or(SigningAlg::RS256, |j| j.alg),
        is_first_party: body.is_first_party.unwrap_or(true),
        client_metadata: body.client_metadata.unwrap_or_default(),
        backchannel_logout_url,
    };
    client.check()?;
    check_backchannel_target(&state, &client)?;
    state.store.insert_client(&client).await?;
    state
        .cached_data_changed(Change::Client {
            client_id: client.client_id.clone(),
        })
        .await;
    Ok((StatusCode::CREATED, Json(ClientBody::new(client, secret))))
}

list_body!(ClientList, "clients", ClientBody);

#[utoipa::path(get, path = "/api/v2/clients", tag = "clients", params(Paging),
    responses((status = 200, description = "An array, or `{clients, start, limit, total}` with include_totals", body = ClientList)))]
async fn clients_list(
    auth: ManagementAuth,
    State(state): State<AppState>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth.require("read:clients")?;
    list_page(
        "clients",
        &paging,
        async |page| state.store.list_clients(page).await,
        |c: &ClientBody| c.client_id.clone(),
        state.store.count_clients(),
    )
    .await
}

#[utoipa::path(get, path = "/api/v2/clients/{id}", tag = "clients", params(("id" = String, Path)),
    responses((status = 200, body = ClientBody), (status = 404, body = ApiErrorBody)))]
async fn client_get(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ClientBody>, ApiError> {
    auth.require("read:clients")?;
    let client = state
        .store
        .get_client(&id)
        .await
        .map_err(client_not_found)?;
    Ok(Json(ClientBody::new(client, None)))
}

#[utoipa::path(patch, path = "/api/v2/clients/{id}", tag = "clients", params(("id" = String, Path)),
    request_body = UpdateClientBody,
    responses((status = 200, body = ClientBody), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn client_patch(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateClientBody>,
) -> Result<Json<ClientBody>, ApiError> {
    auth.require("update:clients")?;
    let mut new_secret = None;
    let client = state
        .store
        .update_client_with(&id, |mut client| {
            macro_rules! set {
                ($($field:ident),*) => { $(if let Some(v) = body.$field { client.$field = v; })* };
            }
            set!(
                name,
                app_type,
                is_first_party,
                callbacks,
                allowed_logout_urls,
                web_origins,
                allowed_origins,
                grant_types,
                token_endpoint_auth_method,
                client_metadata
            );
            if let Some(description) = body.description {
                client.description = description;
            }
            if let Some(usage) = body.organization_usage {
                client.organization_usage = usage.unwrap_or(OrganizationUsage::Deny);
            }
            if let Some(behavior) = body.organization_require_behavior {
                client.organization_require_behavior =
                    behavior.unwrap_or(OrganizationRequireBehavior::NoPrompt);
            }
            if let Some(jwt) = body.jwt_configuration {
                client.signing_alg = jwt.alg;
            }
            if let Some(oidc_logout) = body.oidc_logout {
                client.backchannel_logout_url = oidc_logout.into_url()?;
            }
            if client.app_type.is_public() {
                client.client_secret_hash = None;
            } else if client.client_secret_hash.is_none() {
                // A public client turned confidential needs a secret: shown once, here.
                let (secret, hash) = new_secret_for(client.app_type);
                new_secret = secret;
                client.client_secret_hash = hash;
            }
            client.check()?;
            check_backchannel_target(&state, &client)?;
            Ok::<_, ApiError>(client)
        })
        .await
        .map_err(client_not_found)??;
    state
        .cached_data_changed(Change::Client { client_id: id })
        .await;
    Ok(Json(ClientBody::new(client, new_secret)))
}

#[utoipa::path(delete, path = "/api/v2/clients/{id}", tag = "clients", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ApiErrorBody)))]
async fn client_delete(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require("delete:clients")?;
    state
        .store
        .delete_client(&id)
        .await
        .map_err(client_not_found)?;
    state
        .cached_data_changed(Change::Client { client_id: id })
        .await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v2/clients/{id}/rotate-secret", tag = "clients", params(("id" = String, Path)),
    responses((status = 200, body = ClientBody), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn client_rotate_secret_post(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ClientBody>, ApiError> {
    auth.require("update:client_keys")?;
    let mut new_secret = None;
    let client = state
        .store
        .update_client_with(&id, |mut client| {
            if client.app_type.is_public() {
                return Err(ApiError::bad_request(
                    "Public clients (spa, native) have no secret",
                ));
            }
            let (secret, hash) = new_secret_for(client.app_type);
            new_secret = secret;
            client.client_secret_hash = hash;
            Ok(client)
        })
        .await
        .map_err(client_not_found)??;
    state
        .cached_data_changed(Change::Client { client_id: id })
        .await;
    Ok(Json(ClientBody::new(client, new_secret)))
}
