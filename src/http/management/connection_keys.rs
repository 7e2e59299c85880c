//! `/connections/{id}/keys`: a SAML connection's SP keys, listed and
//! rotated in Auth0's shapes. Each key both signs AuthnRequests (while
//! current) and decrypts assertions (while current, next, or previous until
//! its `decrypts_until`), so each is listed once. Other strategies have no
//! keys here.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ManagementAuth;
use super::connections::connection_not_found;
use super::keys::sha1_prints;
use crate::clock::rfc3339_from_millis;
use crate::connectors::saml::sp;
use crate::http::error::{ApiError, ApiErrorBody};
use crate::keys::{certificate_der, pkcs7_pem};
use crate::model::connection::Strategy;
use crate::state::AppState;
use crate::store::StoredSpKey;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(connection_keys_list))
        .routes(routes!(connection_keys_rotate_post))
}

/// A connection key as Auth0 describes it (never its private part).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionKeyBody {
    pub kid: String,
    /// The self-signed X.509 certificate of the public key, PEM.
    pub cert: String,
    /// The same certificate as a certs-only PKCS#7, PEM.
    pub pkcs: String,
    /// Signs the AuthnRequests now.
    pub current: bool,
    /// Signs after the next rotation; already in the metadata, and decrypts.
    pub next: bool,
    /// Signed before; still decrypts, until `decrypts_until`.
    pub previous: bool,
    /// When the key started signing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_since: Option<String>,
    /// SHA-1 of the certificate, colon-separated hex.
    pub fingerprint: String,
    /// SHA-1 of the certificate, hex.
    pub thumbprint: String,
    /// The key's signing algorithm (RS256: an RSA-2048 key).
    pub algorithm: String,
    /// The certificate's subject.
    pub subject_dn: String,
    /// Switchyard's: when the key stopped signing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_until: Option<String>,
    /// Switchyard's: when a previous key stops decrypting and is deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decrypts_until: Option<String>,
}

fn key_body(key: StoredSpKey) -> Result<ConnectionKeyBody, ApiError> {
    let der = certificate_der(&key.certificate).map_err(ApiError::internal)?;
    let (thumbprint, fingerprint) = sha1_prints(&der);
    let subject_dn = x509_parser::parse_x509_certificate(&der)
        .map_err(ApiError::internal)?
        .1
        .subject()
        .to_string();
    Ok(ConnectionKeyBody {
        current: key.state == "current",
        next: key.state == "next",
        previous: key.state == "previous",
        pkcs: pkcs7_pem(&der).map_err(ApiError::internal)?,
        kid: key.id,
        cert: key.certificate,
        current_since: key.current_since.map(rfc3339_from_millis),
        fingerprint,
        thumbprint,
        algorithm: "RS256".to_owned(),
        subject_dn,
        current_until: key.current_until.map(rfc3339_from_millis),
        decrypts_until: key.decrypts_until.map(rfc3339_from_millis),
    })
}

/// The connection `id`, refused unless it exists and is a SAML connection.
async fn saml_connection(state: &AppState, id: &str) -> Result<(), ApiError> {
    let connection = state
        .store
        .get_connection(id)
        .await
        .map_err(connection_not_found)?;
    if connection.strategy != Strategy::Saml {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "The connection's strategy ({}) has no connection keys: only samlp connections do",
                connection.strategy.as_str()
            ),
            Some("invalid_connection_strategy"),
        ));
    }
    Ok(())
}

/// The connection's SP keys: the current, the next (both in the SP
/// metadata) and previous ones still decrypting. The first two are made on
/// first use.
#[utoipa::path(get, path = "/api/v2/connections/{id}/keys", tag = "connections",
    params(("id" = String, Path, description = "ID of the connection")),
    responses((status = 200, body = [ConnectionKeyBody]), (status = 400, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody)))]
async fn connection_keys_list(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<ConnectionKeyBody>>, ApiError> {
    auth.require("read:connections_keys")?;
    saml_connection(&state, &id).await?;
    let keys = sp::stored_keys(&state.store, &id)
        .await
        .map_err(connection_not_found)?;
    Ok(Json(
        keys.into_iter().map(key_body).collect::<Result<_, _>>()?,
    ))
}

/// Rotates the connection's SP keys: the next key signs from now on, the
/// current one keeps decrypting for an overlap, a new next key is published.
/// Answers the new next key, as Auth0 does.
#[utoipa::path(post, path = "/api/v2/connections/{id}/keys/rotate", tag = "connections",
    params(("id" = String, Path, description = "ID of the connection")),
    responses((status = 201, body = ConnectionKeyBody), (status = 400, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody)))]
async fn connection_keys_rotate_post(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<ConnectionKeyBody>), ApiError> {
    auth.require("update:connections_keys")?;
    saml_connection(&state, &id).await?;
    let next = sp::rotate(&state.store, &id)
        .await
        .map_err(connection_not_found)?;
    Ok((StatusCode::CREATED, Json(key_body(next)?)))
}
