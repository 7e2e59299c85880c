//! `/clients`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::inert::{self, Object, inert_settings};
use super::{ApiJson, ApiQuery, ManagementAuth, Paging, list_page, nullable};
use crate::cache::Change;
use crate::flows::client_auth::hash_client_secret;
use crate::http::error::{ApiError, ApiErrorBody};
use crate::model::client::{
    AppType, Client, DEFAULT_ID_TOKEN_LIFETIME, ExpirationType, GrantType,
    OrganizationDiscoveryMethod, OrganizationRequireBehavior, OrganizationUsage,
    RefreshTokenSettings, RotationType, SigningAlg, TokenEndpointAuthMethod,
    check_backchannel_logout_url,
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

/// Auth0's `jwt_configuration` as sent: each property optional.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtConfigurationBody {
    /// Signing algorithm of this client's ID tokens (and access tokens
    /// without an API).
    pub alg: Option<SigningAlg>,
    /// Lifetime of this client's ID tokens, in seconds (default 3600, at most 2592000).
    pub lifetime_in_seconds: Option<i64>,
    #[serde(flatten)]
    pub inert: JwtInertSettings,
}

/// Auth0's `jwt_configuration` as returned.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JwtConfiguration {
    pub alg: SigningAlg,
    pub lifetime_in_seconds: i64,
    #[serde(flatten)]
    pub inert: JwtInertSettings,
}

inert_settings!(
    /// `jwt_configuration` properties kept without effect.
    JwtInertSettings {
        secret_encoded: bool,
        scopes: Object,
    }
);

inert_settings!(
    /// Auth0 client properties kept and returned without effect (README).
    ClientInertSettings {
        logo_uri: String,
        oidc_backchannel_logout: Object,
        session_transfer: Object,
        client_aliases: Vec<String>,
        allowed_clients: Vec<String>,
        is_token_endpoint_ip_header_trusted: bool,
        oidc_conformant: bool,
        encryption_key: Object,
        sso: bool,
        cross_origin_authentication: bool,
        cross_origin_loc: String,
        sso_disabled: bool,
        custom_login_page_on: bool,
        custom_login_page: String,
        custom_login_page_preview: String,
        form_template: String,
        addons: Object,
        mobile: Object,
        native_social_login: Object,
        fedcm_login: Object,
        default_organization: Object,
        client_authentication_methods: Object,
        require_pushed_authorization_requests: bool,
        require_proof_of_possession: bool,
        signed_request_object: Object,
        token_vault_privileged_access: Object,
        compliance_level: String,
        skip_non_verifiable_callback_uri_confirmation_prompt: bool,
        token_exchange: Object,
        par_request_expiry: i64,
        token_quota: Object,
        resource_server_identifier: String,
        identity_assertion_authorization_grant: Object,
        anonymous_sessions: Object,
        third_party_security_mode: String,
        redirection_policy: String,
        express_configuration: Object,
        my_organization_configuration: Object,
        async_approval_notification_channels: Vec<String>,
        b2b_integration_configuration: Object,
    }
);

/// Auth0's `refresh_token` as sent: what is left out keeps its value (the
/// default for a new client). `policies` (Auth0's multi-resource refresh
/// tokens) is kept without effect.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshTokenBody {
    pub rotation_type: Option<RotationType>,
    pub expiration_type: Option<ExpirationType>,
    pub leeway: Option<i64>,
    pub token_lifetime: Option<i64>,
    pub infinite_token_lifetime: Option<bool>,
    pub idle_token_lifetime: Option<i64>,
    pub infinite_idle_token_lifetime: Option<bool>,
    #[serde(flatten)]
    pub inert: RefreshTokenInertSettings,
}

inert_settings!(
    /// `refresh_token` properties kept without effect.
    RefreshTokenInertSettings {
        policies: Vec<Object>,
    }
);

/// Auth0's `refresh_token` as returned: the settings in effect.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefreshTokenConfiguration {
    #[serde(flatten)]
    pub settings: RefreshTokenSettings,
    #[serde(flatten)]
    pub inert: RefreshTokenInertSettings,
}

impl RefreshTokenBody {
    /// Applies what was sent to `settings`.
    fn apply(self, settings: &mut RefreshTokenSettings) {
        macro_rules! set {
            ($($field:ident),*) => { $(if let Some(v) = self.$field { settings.$field = v; })* };
        }
        set!(
            rotation_type,
            expiration_type,
            leeway,
            token_lifetime,
            infinite_token_lifetime,
            idle_token_lifetime,
            infinite_idle_token_lifetime
        );
    }
}

/// Where the honoured parts of `jwt_configuration` and `refresh_token` go,
/// and where their other properties are kept.
const JWT_CONFIGURATION: &str = "jwt_configuration";
const REFRESH_TOKEN: &str = "refresh_token";

/// Applies a `jwt_configuration` to `client`.
fn apply_jwt_configuration(client: &mut Client, jwt: JwtConfigurationBody) {
    if let Some(alg) = jwt.alg {
        client.signing_alg = alg;
    }
    if let Some(lifetime) = jwt.lifetime_in_seconds {
        client.id_token_lifetime = lifetime;
    }
    merge_nested(&mut client.inert_settings, JWT_CONFIGURATION, &jwt.inert);
}

/// Applies a `refresh_token` to `client`: `null` (`None`) resets it.
fn apply_refresh_token(client: &mut Client, refresh_token: Option<RefreshTokenBody>) {
    match refresh_token {
        Some(body) => {
            merge_nested(&mut client.inert_settings, REFRESH_TOKEN, &body.inert);
            body.apply(&mut client.refresh_token);
        }
        None => {
            client.refresh_token = RefreshTokenSettings::default();
            client.inert_settings.remove(REFRESH_TOKEN);
        }
    }
}

/// Keeps the inert properties of a nested object under its name.
fn merge_nested<T: Serialize>(stored: &mut Object, name: &str, sent: &T) {
    let mut nested = match stored.remove(name) {
        Some(Value::Object(nested)) => nested,
        _ => Object::new(),
    };
    inert::merge(&mut nested, sent);
    if !nested.is_empty() {
        stored.insert(name.to_owned(), Value::Object(nested));
    }
}

fn nested(stored: &Object, name: &str) -> Object {
    match stored.get(name) {
        Some(Value::Object(nested)) => nested.clone(),
        _ => Object::new(),
    }
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
    /// How `pre_login_prompt` finds the organization: by its name, by the
    /// email's verified domain, or either. Left out while never set (by name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_discovery_methods: Option<Vec<OrganizationDiscoveryMethod>>,
    pub jwt_configuration: JwtConfiguration,
    #[schema(value_type = Object)]
    pub client_metadata: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oidc_logout: Option<OidcLogout>,
    /// The refresh-token settings in effect.
    pub refresh_token: RefreshTokenConfiguration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initiate_login_uri: Option<String>,
    #[serde(flatten)]
    pub inert: ClientInertSettings,
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
            organization_discovery_methods: client.organization_discovery_methods,
            jwt_configuration: JwtConfiguration {
                alg: client.signing_alg,
                lifetime_in_seconds: client.id_token_lifetime,
                inert: inert::returned(&nested(&client.inert_settings, JWT_CONFIGURATION)),
            },
            client_metadata: client.client_metadata,
            oidc_logout: OidcLogout::of(client.backchannel_logout_url),
            refresh_token: RefreshTokenConfiguration {
                settings: client.refresh_token,
                inert: inert::returned(&nested(&client.inert_settings, REFRESH_TOKEN)),
            },
            initiate_login_uri: client.initiate_login_uri,
            inert: inert::returned(&client.inert_settings),
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
    /// How `pre_login_prompt` finds the organization (one or both, each
    /// once); left out: by its name.
    pub organization_discovery_methods: Option<Vec<OrganizationDiscoveryMethod>>,
    pub jwt_configuration: Option<JwtConfigurationBody>,
    #[schema(value_type = Option<Object>)]
    pub client_metadata: Option<Map<String, Value>>,
    pub oidc_logout: Option<OidcLogout>,
    /// Rotation, lifetimes and reuse leeway of this client's refresh
    /// tokens; `null` or left out: rotating, 30 days, 15 days idle, leeway 0.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<RefreshTokenBody>)]
    pub refresh_token: Option<Option<RefreshTokenBody>>,
    /// An absolute https URL.
    pub initiate_login_uri: Option<String>,
    #[serde(flatten)]
    pub inert: ClientInertSettings,
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
    /// How `pre_login_prompt` finds the organization (one or both, each
    /// once); `null` resets it (by its name).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<OrganizationDiscoveryMethod>>)]
    pub organization_discovery_methods: Option<Option<Vec<OrganizationDiscoveryMethod>>>,
    pub jwt_configuration: Option<JwtConfigurationBody>,
    #[schema(value_type = Option<Object>)]
    pub client_metadata: Option<Map<String, Value>>,
    pub oidc_logout: Option<OidcLogout>,
    /// Sets the client's secret (a confidential client's), as Auth0 does.
    pub client_secret: Option<String>,
    /// `null` resets it to the defaults.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<RefreshTokenBody>)]
    pub refresh_token: Option<Option<RefreshTokenBody>>,
    /// An absolute https URL; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub initiate_login_uri: Option<Option<String>>,
    #[serde(flatten)]
    pub inert: ClientInertSettings,
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

/// A secret the caller chose (Auth0's PATCH `client_secret`): long enough
/// not to be guessed, printable.
fn check_chosen_secret(secret: &str) -> Result<(), ApiError> {
    if secret.chars().count() < 32 || !secret.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::bad_request(
            "Payload validation error: client_secret must be at least 32 printable ASCII characters without spaces",
        ));
    }
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
    let mut client = Client {
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
        organization_discovery_methods: body.organization_discovery_methods,
        signing_alg: SigningAlg::RS256,
        is_first_party: body.is_first_party.unwrap_or(true),
        client_metadata: body.client_metadata.unwrap_or_default(),
        backchannel_logout_url,
        refresh_token: RefreshTokenSettings::default(),
        initiate_login_uri: body.initiate_login_uri,
        id_token_lifetime: DEFAULT_ID_TOKEN_LIFETIME,
        inert_settings: inert::stored(&body.inert),
    };
    if let Some(jwt) = body.jwt_configuration {
        apply_jwt_configuration(&mut client, jwt);
    }
    if let Some(refresh_token) = body.refresh_token {
        apply_refresh_token(&mut client, refresh_token);
    }
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
            if let Some(methods) = body.organization_discovery_methods {
                client.organization_discovery_methods = methods;
            }
            if let Some(jwt) = body.jwt_configuration {
                apply_jwt_configuration(&mut client, jwt);
            }
            if let Some(refresh_token) = body.refresh_token {
                apply_refresh_token(&mut client, refresh_token);
            }
            if let Some(uri) = body.initiate_login_uri {
                client.initiate_login_uri = uri;
            }
            inert::merge(&mut client.inert_settings, &body.inert);
            if let Some(oidc_logout) = body.oidc_logout {
                client.backchannel_logout_url = oidc_logout.into_url()?;
            }
            if client.app_type.is_public() {
                if body.client_secret.is_some() {
                    return Err(ApiError::bad_request(
                        "Public clients (spa, native) have no secret",
                    ));
                }
                client.client_secret_hash = None;
            } else if let Some(secret) = &body.client_secret {
                check_chosen_secret(secret)?;
                client.client_secret_hash = Some(hash_client_secret(secret));
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
