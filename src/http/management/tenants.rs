//! `/tenants/settings`.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
}

impl From<TenantSettings> for TenantSettingsBody {
    fn from(s: TenantSettings) -> Self {
        TenantSettingsBody {
            allow_organization_name_in_authentication_api: s
                .allow_organization_name_in_authentication_api,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenantSettingsBody {
    pub allow_organization_name_in_authentication_api: Option<bool>,
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
            Ok::<_, ApiError>(settings)
        })
        .await??;
    state.cached_data_changed(Change::TenantSettings).await;
    Ok(Json(settings.into()))
}
