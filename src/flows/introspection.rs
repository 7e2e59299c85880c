//! What a client may learn about its tokens, and how it gives them up:
//! introspection (RFC 7662, confidential clients only) and revocation
//! (RFC 7009). A client only ever sees or revokes tokens issued to it.
//!
//! Refresh tokens are server-side state: revoking one revokes its whole
//! family, and the access tokens issued with it (RFC 7009 §2.1). Access
//! tokens are self-contained JWTs; revoking one lists its `jti` (see
//! [`crate::store::ACCESS_TOKEN_MAX_LIFETIME_MS`]), which this server's own
//! endpoints honour (introspection answers `active: false`, userinfo and the
//! Management API refuse it). An API that verifies tokens offline cannot see
//! the list: it should introspect, or keep token lifetimes short.

use serde::{Deserialize, Serialize};

use super::client_auth::identify_client;
use super::issue::{
    AccessTokenRefused, Audience, verify_access_token, verify_access_token_offline,
};
use super::{OAuthError, OAuthErrorCode, sha256_hex};
use crate::model::secret::Secret;
use crate::state::AppState;
use crate::store::StoreError;

/// Parameters of the revocation and introspection endpoints.
#[derive(Debug, Default, Deserialize)]
pub struct TokenStateParams {
    pub token: Option<Secret>,
    pub token_type_hint: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
}

impl TokenStateParams {
    fn token(&self) -> Result<&str, OAuthError> {
        self.token
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: token"))
    }
}

/// An introspection response: `{"active": false}` for anything that is not
/// a live token of the calling client.
#[derive(Debug, Default, Serialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
}

pub async fn introspect(
    state: &AppState,
    authorization: Option<&str>,
    params: &TokenStateParams,
) -> Result<Introspection, OAuthError> {
    let client = identify_client(
        state,
        authorization,
        params.client_id.as_deref(),
        params.client_secret.as_deref(),
        false,
    )
    .await?;
    let token = params.token()?;
    match state
        .store
        .find_refresh_token(&sha256_hex(token), state.clock.now_unix_millis())
        .await
    {
        Ok(found) => {
            if !found.active || found.grant.client_id != client.client_id {
                return Ok(Introspection::default());
            }
            return Ok(Introspection {
                active: true,
                scope: Some(found.grant.scope.join(" ")),
                client_id: Some(found.grant.client_id),
                token_type: Some("refresh_token"),
                exp: Some(found.expires_at / 1000),
                iat: Some(found.created_at / 1000),
                sub: Some(found.grant.user_id),
                aud: None,
                iss: Some(state.issuer.identifier().to_owned()),
                jti: None,
                org_id: found.grant.organization_id,
            });
        }
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    let claims = match verify_access_token(state, token, None).await {
        Ok(claims) if claims.client_id == client.client_id => claims,
        Err(AccessTokenRefused::Store(e)) => return Err(e.into()),
        _ => return Ok(Introspection::default()),
    };
    // A user's token is active only while the user may still get tokens
    // (as userinfo sees it); machine tokens (`gty`) have no user.
    if claims.gty.is_none() {
        match state.store.get_user(&claims.sub).await {
            Ok(user) if !user.user.blocked => {}
            Ok(_) | Err(StoreError::NotFound) => return Ok(Introspection::default()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Introspection {
        active: true,
        scope: Some(claims.scope).filter(|s| !s.is_empty()),
        client_id: Some(claims.client_id),
        token_type: Some("Bearer"),
        exp: Some(claims.exp),
        iat: Some(claims.iat),
        sub: Some(claims.sub),
        aud: Some(claims.aud),
        iss: Some(claims.iss),
        jti: Some(claims.jti),
        org_id: claims.org_id,
    })
}

pub async fn revoke(
    state: &AppState,
    authorization: Option<&str>,
    params: &TokenStateParams,
) -> Result<(), OAuthError> {
    let client = identify_client(
        state,
        authorization,
        params.client_id.as_deref(),
        params.client_secret.as_deref(),
        true,
    )
    .await?;
    let token = params.token()?;
    match state
        .store
        .find_refresh_token(&sha256_hex(token), state.clock.now_unix_millis())
        .await
    {
        Ok(found) if found.grant.client_id == client.client_id => {
            state.store.revoke_refresh_grant(&found.grant.id).await?;
            tracing::info!(client_id = %client.client_id, grant_id = %found.grant.id, "refresh grant revoked");
            Ok(())
        }
        Ok(_) => Err(issued_to_another_client()),
        Err(StoreError::NotFound) => match verify_access_token_offline(state, token, None) {
            Ok(claims) if claims.client_id == client.client_id => {
                state
                    .store
                    .revoke_access_token(&claims.jti, claims.exp.saturating_mul(1000))
                    .await?;
                tracing::info!(client_id = %client.client_id, jti = %claims.jti, "access token revoked");
                Ok(())
            }
            Ok(_) => Err(issued_to_another_client()),
            // RFC 7009 §2.2: an unknown (or expired) token is answered like
            // a revoked one.
            Err(_) => Ok(()),
        },
        Err(e) => Err(e.into()),
    }
}

fn issued_to_another_client() -> OAuthError {
    OAuthError::new(
        OAuthErrorCode::UnauthorizedClient,
        "The token was not issued to this client",
    )
}
