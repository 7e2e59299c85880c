//! The authorization-code grant (RFC 6749 §4.1.3, PKCE RFC 7636): a code
//! is consumed once, by its client, with its redirect URI and verifier; the
//! tokens it stands for are issued by [`super::issue`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::issue::{TokenResponse, UserGrant, issue_user_tokens, live_user};
use super::refresh;
use super::request::{CodeGrant, TokenParams};
use super::{OAuthError, sha256_hex};
use crate::model::client::Client;
use crate::model::ids;
use crate::state::AppState;
use crate::store::StoreError;

fn code_replayed() -> OAuthError {
    OAuthError::invalid_grant("The authorization code has already been used")
}

/// Checks a PKCE verifier against the stored S256 challenge.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    well_formed && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

/// The `authorization_code` grant for an authenticated `client`.
pub async fn exchange_code(
    state: &AppState,
    client: &Client,
    params: &TokenParams,
) -> Result<TokenResponse, OAuthError> {
    let code = params
        .code
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: code"))?;
    let code_hash = sha256_hex(code);
    let access_token_id = ids::random_alphanumeric(22);
    let grant_json = match state
        .store
        .consume_authorization_code(
            &code_hash,
            &client.client_id,
            state.clock.now_unix_millis(),
            &access_token_id,
        )
        .await
    {
        Ok(found) => found,
        Err(StoreError::NotFound) => {
            // RFC 6749 §4.1.2: a replayed code revokes what it issued (only
            // when its own client presents it again).
            if state
                .store
                .revoke_what_code_issued(
                    &code_hash,
                    &client.client_id,
                    state.clock.now_unix_millis(),
                )
                .await?
            {
                tracing::warn!(client_id = %client.client_id, "authorization code replayed; the tokens it issued are revoked");
                return Err(code_replayed());
            }
            // Unknown, expired, or another client's (left unconsumed).
            return Err(OAuthError::invalid_grant(
                "Invalid or expired authorization code",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let grant: CodeGrant = serde_json::from_str(&grant_json).map_err(OAuthError::server_error)?;
    if params.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&grant.code_challenge, params.code_verifier.as_deref()) {
        (Some(challenge), Some(verifier)) if pkce_matches(verifier, challenge) => {}
        (Some(_), Some(_)) => return Err(OAuthError::invalid_grant("PKCE verification failed")),
        (Some(_), None) => return Err(OAuthError::invalid_grant("Missing code_verifier")),
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier given but no code_challenge was sent",
            ));
        }
        (None, None) => {}
    }

    let user = live_user(state, &grant.user_id, grant.organization_id.as_deref()).await?;
    let user_grant = UserGrant {
        user: &user,
        organization_id: grant.organization_id.as_deref(),
        scope: &grant.scope,
        audience: grant.audience.as_deref(),
        nonce: grant.nonce.as_deref(),
        auth_time: grant.auth_time,
        session_id: grant.session_id.as_deref(),
        access_token_id: &access_token_id,
    };
    let tokens = issue_user_tokens(state, client, &user_grant).await?;
    let refresh_token = if tokens.offline_access_allowed && refresh::is_wanted(client, &grant.scope)
    {
        // None: the code was replayed while this exchange ran, and what
        // it issued is revoked; nothing is handed out.
        let token = refresh::start(state, client, &user_grant, &code_hash)
            .await?
            .ok_or_else(code_replayed)?;
        Some(token)
    } else {
        None
    };
    Ok(tokens.into_response(refresh_token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx",
            challenge
        ));
        assert!(!pkce_matches("short", challenge));
    }
}
