//! `/keys/signing`: list, read, rotate and revoke the signing keys, in
//! Auth0's shapes. Switchyard keeps a ring per algorithm (RS256, ES256,
//! EdDSA); every key is listed, each with its `alg`, and a rotation rotates
//! all three.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ManagementAuth;
use crate::cache::Change;
use crate::clock::rfc3339_from_millis;
use crate::flows::LONGEST_FIXED_TOKEN_LIFETIME;
use crate::http::error::{ApiError, ApiErrorBody};
use crate::keys::{certificate_der, pkcs7_pem, sha1};
use crate::model::client::SigningAlg;
use crate::state::AppState;
use crate::store::{SigningKeyRecord, StoreError};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signing_keys_list))
        .routes(routes!(signing_key_get))
        .routes(routes!(signing_keys_rotate_post))
        .routes(routes!(signing_key_revoke_put))
}

/// A signing key as Auth0 describes it (never its private part).
#[derive(Debug, Serialize, ToSchema)]
pub struct SigningKeyBody {
    pub kid: String,
    /// A self-signed X.509 certificate of the public key, PEM.
    pub cert: String,
    /// The same certificate as a certs-only PKCS#7, PEM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pkcs7: Option<String>,
    /// Signs the tokens of its algorithm now.
    pub current: bool,
    /// Signs after the next rotation; already published.
    pub next: bool,
    /// Signed before; still published and verifying, until `verifies_until`.
    pub previous: bool,
    /// When the key started signing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_since: Option<String>,
    /// When the key stopped signing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_until: Option<String>,
    /// SHA-1 of the certificate, colon-separated hex.
    pub fingerprint: String,
    /// SHA-1 of the certificate, hex.
    pub thumbprint: String,
    pub revoked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// Switchyard's: the algorithm the key signs with (RS256, ES256, EdDSA).
    pub alg: String,
    /// Switchyard's: when a previous key leaves the JWKS, every token it
    /// signed having expired by then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verifies_until: Option<String>,
}

/// What rotating and revoking answer, as Auth0 does: one key's id and certificate.
#[derive(Debug, Serialize, ToSchema)]
pub struct SigningKeyCertBody {
    pub kid: String,
    pub cert: String,
}

/// A certificate's SHA-1 as Auth0 shows it: the `thumbprint` (hex) and the
/// `fingerprint` (the same, colon-separated).
pub(super) fn sha1_prints(certificate_der: &[u8]) -> (String, String) {
    let thumbprint = hex::encode_upper(sha1(certificate_der));
    let fingerprint = thumbprint
        .as_bytes()
        .chunks(2)
        .map(String::from_utf8_lossy)
        .collect::<Vec<_>>()
        .join(":");
    (thumbprint, fingerprint)
}

fn key_body(record: SigningKeyRecord) -> Result<SigningKeyBody, ApiError> {
    let cert = record.certificate.unwrap_or_default();
    let der = if cert.is_empty() {
        None
    } else {
        Some(certificate_der(&cert).map_err(ApiError::internal)?)
    };
    let (thumbprint, fingerprint) = der.as_deref().map(sha1_prints).unwrap_or_default();
    let pkcs7 = der
        .as_deref()
        .map(pkcs7_pem)
        .transpose()
        .map_err(ApiError::internal)?;
    let revoked = record.revoked_at.is_some();
    Ok(SigningKeyBody {
        current: record.state == "current",
        next: record.state == "next",
        previous: record.state == "previous" && !revoked,
        kid: record.kid,
        cert,
        pkcs7,
        current_since: record.current_since.map(rfc3339_from_millis),
        current_until: record.current_until.map(rfc3339_from_millis),
        fingerprint,
        thumbprint,
        revoked,
        revoked_at: record.revoked_at.map(rfc3339_from_millis),
        alg: record.alg,
        verifies_until: record.verifies_until.map(rfc3339_from_millis),
    })
}

fn key_not_found(err: StoreError) -> ApiError {
    ApiError::from_store(
        err,
        "The signing key does not exist",
        "inexistent_signing_key",
    )
}

#[utoipa::path(get, path = "/api/v2/keys/signing", tag = "keys",
    responses((status = 200, body = [SigningKeyBody]), (status = 403, body = ApiErrorBody)))]
async fn signing_keys_list(
    auth: ManagementAuth,
    State(state): State<AppState>,
) -> Result<Json<Vec<SigningKeyBody>>, ApiError> {
    auth.require("read:signing_keys")?;
    let keys = state.store.list_signing_keys().await?;
    Ok(Json(
        keys.into_iter().map(key_body).collect::<Result<_, _>>()?,
    ))
}

#[utoipa::path(get, path = "/api/v2/keys/signing/{kid}", tag = "keys",
    params(("kid" = String, Path, description = "Key id of the key to retrieve")),
    responses((status = 200, body = SigningKeyBody), (status = 403, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody)))]
async fn signing_key_get(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(kid): Path<String>,
) -> Result<Json<SigningKeyBody>, ApiError> {
    auth.require("read:signing_keys")?;
    let key = state
        .store
        .get_signing_key(&kid)
        .await
        .map_err(key_not_found)?;
    Ok(Json(key_body(key)?))
}

/// Rotates every algorithm's keys; answers the RS256 key that signs from
/// now on (the former next key), as Auth0 answers its one key.
#[utoipa::path(post, path = "/api/v2/keys/signing/rotate", tag = "keys",
    responses((status = 201, body = SigningKeyCertBody), (status = 403, body = ApiErrorBody)))]
async fn signing_keys_rotate_post(
    auth: ManagementAuth,
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<SigningKeyCertBody>), ApiError> {
    auth.require("create:signing_keys")?;
    auth.require("update:signing_keys")?;
    let mut kid = String::new();
    let mut rotated = Ok(());
    for alg in SigningAlg::ALL.iter().copied() {
        match state
            .keys
            .rotate(&state.store, alg, LONGEST_FIXED_TOKEN_LIFETIME)
            .await
        {
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
    let key = state.store.get_signing_key(&kid).await?;
    Ok((
        StatusCode::CREATED,
        Json(SigningKeyCertBody {
            cert: key.certificate.unwrap_or_default(),
            kid,
        }),
    ))
}

/// Revokes a previously used key: it leaves the JWKS and its tokens are
/// refused at once. The current and the next key cannot be revoked (Auth0:
/// "You can only revoke the previously used signing key"); rotate first.
#[utoipa::path(put, path = "/api/v2/keys/signing/{kid}/revoke", tag = "keys",
    params(("kid" = String, Path, description = "Key id of the key to revoke")),
    responses((status = 200, body = SigningKeyCertBody), (status = 400, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn signing_key_revoke_put(
    auth: ManagementAuth,
    State(state): State<AppState>,
    Path(kid): Path<String>,
) -> Result<Json<SigningKeyCertBody>, ApiError> {
    auth.require("update:signing_keys")?;
    let key = state
        .store
        .get_signing_key(&kid)
        .await
        .map_err(key_not_found)?;
    let only_previous = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "The {} signing key cannot be revoked: only a previously used key can",
                key.state
            ),
            Some("invalid_signing_key_state"),
        )
    };
    if key.state != "previous" {
        return Err(only_previous());
    }
    let revoked = state
        .keys
        .revoke(&state.store, &kid)
        .await
        .map_err(ApiError::internal)?;
    state.cached_data_changed(Change::SigningKeys).await;
    if !revoked {
        // It reached its end in between: it verifies nothing already.
        return Err(key_not_found(StoreError::NotFound));
    }
    Ok(Json(SigningKeyCertBody {
        kid,
        cert: key.certificate.clone().unwrap_or_default(),
    }))
}
