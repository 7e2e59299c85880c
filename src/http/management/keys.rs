//! `/keys/signing`: list the signing keys and rotate them.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ManagementAuth;
use crate::cache::Change;
use crate::http::error::{ApiError, ApiErrorBody};
use crate::keys::KeySummary;
use crate::model::client::SigningAlg;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signing_keys_list))
        .routes(routes!(signing_keys_rotate_post))
}

#[utoipa::path(get, path = "/api/v2/keys/signing", tag = "keys",
    responses((status = 200, body = [KeySummary])))]
async fn signing_keys_list(
    auth: ManagementAuth,
    State(state): State<AppState>,
) -> Result<Json<Vec<KeySummary>>, ApiError> {
    auth.require("read:signing_keys")?;
    Ok(Json(state.keys.summaries()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedKeys {
    /// The new current RS256 key (Auth0's response field).
    pub kid: String,
    pub current: Vec<KeySummary>,
}

#[utoipa::path(post, path = "/api/v2/keys/signing/rotate", tag = "keys",
    responses((status = 201, body = RotatedKeys), (status = 403, body = ApiErrorBody)))]
async fn signing_keys_rotate_post(
    auth: ManagementAuth,
    State(state): State<AppState>,
) -> Result<(axum::http::StatusCode, Json<RotatedKeys>), ApiError> {
    auth.require("create:signing_keys")?;
    auth.require("update:signing_keys")?;
    let mut kid = String::new();
    let mut rotated = Ok(());
    for alg in SigningAlg::ALL.iter().copied() {
        match state.keys.rotate(&state.store, alg).await {
            Ok(new_current) if alg == SigningAlg::RS256 => kid = new_current,
            Ok(_) => {}
            Err(e) => {
                rotated = Err(e);
                break;
            }
        }
    }
    // Even after a failure: what did rotate must reach the other nodes.
    state.cached_data_changed(Change::SigningKeys).await;
    rotated.map_err(ApiError::internal)?;
    let current = state
        .keys
        .summaries()
        .into_iter()
        .filter(|k| k.current)
        .collect();
    Ok((
        axum::http::StatusCode::CREATED,
        Json(RotatedKeys { kid, current }),
    ))
}
