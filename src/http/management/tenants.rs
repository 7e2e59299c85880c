//! `/tenants/settings`.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::inert::{self, Object, inert_settings};
use super::{ApiJson, ManagementAuth};
use crate::cache::Change;
use crate::http::error::{ApiError, ApiErrorBody};
use crate::model::tenant::TenantSettings;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(tenant_settings_get, tenant_settings_patch))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantSettingsBody {
    /// Whether ID and access tokens carry `org_name` beside `org_id`.
    pub allow_organization_name_in_authentication_api: bool,
    #[serde(flatten)]
    pub inert: TenantInertSettings,
}

inert_settings!(
    /// Auth0 tenant settings kept and returned without effect (README).
    TenantInertSettings {
        change_password: Object,
        device_flow: Object,
        guardian_mfa_page: Object,
        default_audience: String,
        default_directory: String,
        error_page: Object,
        default_token_quota: Object,
        flags: Object,
        friendly_name: String,
        picture_url: String,
        support_email: String,
        support_url: String,
        allowed_logout_urls: Vec<String>,
        session_lifetime: i64,
        session_lifetime_in_minutes: i64,
        idle_session_lifetime: i64,
        idle_session_lifetime_in_minutes: i64,
        ephemeral_session_lifetime: i64,
        idle_ephemeral_session_lifetime: i64,
        ephemeral_session_lifetime_in_minutes: i64,
        idle_ephemeral_session_lifetime_in_minutes: i64,
        sandbox_version: String,
        legacy_sandbox_version: String,
        default_redirection_uri: String,
        enabled_locales: Vec<String>,
        security_headers: Object,
        session_cookie: Object,
        sessions: Object,
        oidc_logout: Object,
        customize_mfa_in_postlogin_action: bool,
        acr_values_supported: Vec<String>,
        mtls: Object,
        pushed_authorization_requests_supported: bool,
        authorization_response_iss_parameter_supported: bool,
        skip_non_verifiable_callback_uri_confirmation_prompt: bool,
        resource_parameter_profile: String,
        client_id_metadata_document_supported: bool,
        enable_ai_guide: bool,
        phone_consolidated_experience: bool,
        include_session_metadata_in_tenant_logs: bool,
        dynamic_client_registration_security_mode: String,
        country_codes: Object,
    }
);

impl From<TenantSettings> for TenantSettingsBody {
    fn from(s: TenantSettings) -> Self {
        TenantSettingsBody {
            allow_organization_name_in_authentication_api: s
                .allow_organization_name_in_authentication_api,
            inert: inert::returned(&s.inert_settings),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenantSettingsBody {
    /// `null` leaves it as it is.
    pub allow_organization_name_in_authentication_api: Option<bool>,
    #[serde(flatten)]
    pub inert: TenantInertSettings,
}

#[utoipa::path(get, path = "/api/v2/tenants/settings", tag = "tenants",
    responses((status = 200, body = TenantSettingsBody)))]
async fn tenant_settings_get(
    auth: ManagementAuth,
    State(state): State<AppState>,
) -> Result<Json<TenantSettingsBody>, ApiError> {
    auth.require("read:tenant_settings")?;
    Ok(Json(state.store.tenant_settings().await?.into()))
}

#[utoipa::path(patch, path = "/api/v2/tenants/settings", tag = "tenants",
    request_body = UpdateTenantSettingsBody,
    responses((status = 200, body = TenantSettingsBody), (status = 400, body = ApiErrorBody)))]
async fn tenant_settings_patch(
    auth: ManagementAuth,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<UpdateTenantSettingsBody>,
) -> Result<Json<TenantSettingsBody>, ApiError> {
    auth.require("update:tenant_settings")?;
    let settings = state
        .store
        .update_tenant_settings_with(|mut settings| {
            if let Some(v) = body.allow_organization_name_in_authentication_api {
                settings.allow_organization_name_in_authentication_api = v;
            }
            inert::merge(&mut settings.inert_settings, &body.inert);
            Ok::<_, ApiError>(settings)
        })
        .await??;
    state.cached_data_changed(Change::TenantSettings).await;
    Ok(Json(settings.into()))
}
